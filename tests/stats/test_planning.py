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


def test_risk_aware_power_splits_beta_over_the_guardrails() -> None:
    from stats.planning import risk_aware_power

    assert risk_aware_power(0.8, 0) == pytest.approx(0.8)
    assert risk_aware_power(0.8, 1) == pytest.approx(0.9)
    assert risk_aware_power(0.8, 4) == pytest.approx(0.96)
    with pytest.raises(ValueError, match="power"):
        risk_aware_power(1.0, 1)


def test_units_to_conclude_is_where_the_interval_first_excludes_zero() -> None:
    from stats import confidence_sequence as cs
    from stats.planning import units_to_conclude

    v, tuning, alpha, effect = 4.0, 20_000.0, 0.05, 0.05

    def half(n: float) -> float:
        return float(cs.halfwidth(v / n, n, tuning, alpha))

    n = units_to_conclude(half, effect)
    assert n is not None
    assert half(n) <= effect < half(n * 0.999)
    # golden: the fixed-horizon z-test needs (z_{.975})² v / δ² = 6 147 units for the same
    # half-width; an always-valid interval needs more (about 2.2 times here)
    assert 6_147 < n < 3 * 6_147
    assert units_to_conclude(half, effect, at_most=1000) is None
