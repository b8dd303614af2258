"""Sample-size planning against the 16 σ²/δ² rule of thumb."""

from __future__ import annotations

import pytest

from stats.planning import units_per_arm


def test_matches_the_rule_of_thumb() -> None:
    # conversion 5 %: CV^2 = 0.95 / 0.05 = 19; 5 % relative lift; 16 * 19 / 0.0025 = 121 600
    assert units_per_arm(19.0, 0.05, 0.05) == pytest.approx(121_600, rel=0.02)


def test_bad_inputs() -> None:
    for args in ((0.0, 0.05, 0.05), (1.0, 0.0, 0.05), (1.0, 0.05, 1.0)):
        with pytest.raises(ValueError):
            units_per_arm(*args)
