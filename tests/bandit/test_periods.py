"""Per-period SRM and period-weighted rewards, against values worked by hand."""

from __future__ import annotations

import math

import pytest

from gateway.bandit.periods import Period, period_srm, unit_variances, weighted_rewards
from stats.effects import ArmEstimate, mean_estimate
from stats.sufficient import MeanStats


def _rate(n: int, k: int) -> ArmEstimate:
    return mean_estimate(MeanStats.from_int_sums(n, k, k))


def test_period_weighting_removes_simpsons_paradox() -> None:
    # Two arms, equally good in each period; A had 90 % of a 10 % period, B 90 % of a 2 % one.
    periods = [
        Period((0.9, 0.1), (_rate(900, 90), _rate(100, 10))),
        Period((0.1, 0.9), (_rate(100, 2), _rate(900, 18))),
    ]
    pooled = [_rate(1000, 92), _rate(1000, 28)]
    assert pooled[0].mean == pytest.approx(0.092) and pooled[1].mean == pytest.approx(0.028)
    a, b = weighted_rewards(periods, pooled)
    # (1000 · 0.10 + 1000 · 0.02) / 2000 = 0.06 for both
    assert a.mean == pytest.approx(0.06) and b.mean == pytest.approx(0.06)
    assert (a.n, b.n) == (1000, 1000)
    # variance: σ²_A = 0.092 · 0.908 (per unit, n/(n−1) corrected), weights 1000 and 1000:
    # (1000² σ²/900 + 1000² σ²/100) / 2000²
    s2 = pooled[0].variance * 1000
    assert s2 == pytest.approx(0.092 * 0.908 * 1000 / 999)
    assert a.variance == pytest.approx((s2 / 900 + s2 / 100) / 4)


def test_an_arm_without_variation_borrows_the_others_and_none_at_all_is_zero() -> None:
    assert unit_variances([_rate(100, 0), _rate(100, 10)]) == pytest.approx(
        (0.1 * 0.9 * 100 / 99, 0.1 * 0.9 * 100 / 99)
    )
    assert unit_variances([_rate(100, 0), _rate(50, 0)]) == (0.0, 0.0)


def test_an_arm_with_no_units_has_no_reward() -> None:
    periods = [Period((0.5, 0.5), (_rate(10, 1), ArmEstimate(0, math.nan, math.inf)))]
    a, b = weighted_rewards(periods, [_rate(10, 1), ArmEstimate(0, math.nan, math.inf)])
    assert a.mean == pytest.approx(0.1) and b.n == 0 and math.isinf(b.variance)


def test_srm_is_checked_against_each_periods_own_weights() -> None:
    ok = Period((0.9, 0.1), (_rate(900, 0), _rate(100, 0)))
    also_ok = Period((0.5, 0.5), (_rate(510, 0), _rate(490, 0)))
    # Against the cumulative counts and the latest weights this would be a gross mismatch.
    result = period_srm([ok, also_ok])
    assert result.checked == 2 and result.p_value > 0.1
    bad = Period((0.5, 0.5), (_rate(600, 0), _rate(400, 0)))
    result = period_srm([ok, bad, Period(None, (_rate(5, 0), _rate(90, 0)))])
    # chi² = (100² + 100²) / 500 = 40 on 1 df: p = 2.54e-10, times the 2 periods checked
    assert result.worst == 1 and result.checked == 2
    assert result.p_value == pytest.approx(2 * 2.539e-10, rel=1e-3)
