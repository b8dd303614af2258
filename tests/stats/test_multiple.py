"""Holm and Benjamini–Hochberg against hand-computed adjustments."""

from __future__ import annotations

import pytest

from stats.multiple import adjust, benjamini_hochberg, holm

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(P) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_by_hand() -> None:
    # sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04 -> running min from the top
    assert benjamini_hochberg(P) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_one_arm_and_no_arms_are_unchanged() -> None:
    assert holm([0.03]) == [0.03] and benjamini_hochberg([0.03]) == [0.03]
    assert holm([]) == [] and adjust([0.2, 0.3], "none") == [0.2, 0.3]
