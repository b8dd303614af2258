"""Sample ratio mismatch against hand-computed chi-square values."""

from __future__ import annotations

import math

import pytest

from stats.srm import srm_check


def test_golden_two_arms() -> None:
    result = srm_check([5000, 5200], [0.5, 0.5])
    chi2 = 2 * 100**2 / 5100
    assert result.chi2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))  # chi2 with 1 dof
    assert not result.mismatch


def test_flags_a_clear_mismatch_and_respects_uneven_weights() -> None:
    assert srm_check([5000, 5600], [0.5, 0.5]).mismatch
    assert not srm_check([2000, 8000], [0.2, 0.8]).mismatch
    assert srm_check([5000, 5000], [0.2, 0.8]).mismatch


def test_zero_weight_arms_and_empty_counts_are_ignored() -> None:
    assert srm_check([100, 0, 100], [0.5, 0.0, 0.5]).p_value == pytest.approx(1.0)
    assert srm_check([0, 0], [0.5, 0.5]).p_value == 1.0
