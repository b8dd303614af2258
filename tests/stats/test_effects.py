"""Per-arm estimates and effects against independent computations on raw per-unit data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats.effects import (
    ArmEstimate,
    absolute_effect,
    cuped_estimates,
    cuped_theta,
    mean_estimate,
    ratio_estimate,
    relative_effect,
    winsorize,
)
from stats.sufficient import MeanStats, PairStats


def test_ratio_delta_method_equals_the_linearised_per_unit_variance() -> None:
    rng = np.random.default_rng(3)
    searches = 1.0 + rng.poisson(2.0, 5000)
    clicks = rng.binomial(searches.astype(int), rng.beta(0.6, 1.4, 5000)).astype(float)
    est = ratio_estimate(PairStats.of(list(clicks), list(searches)))
    ratio = clicks.sum() / searches.sum()
    # Deng et al. (2018): Var(R) = Var(x - R y) / (n * mean(y)^2), the influence-function form
    linear = (clicks - ratio * searches) / searches.mean()
    assert est.mean == pytest.approx(ratio)
    assert est.variance == pytest.approx(linear.var(ddof=1) / 5000, rel=1e-9)
    naive = ratio * (1 - ratio) / searches.sum()
    assert est.variance > 1.5 * naive  # clicks cluster within users


def test_cuped_theta_and_variance_reduction() -> None:
    rng = np.random.default_rng(4)
    covariate = rng.normal(10, 2, (2, 20000))
    metric = 0.5 * covariate + rng.normal(0, 1, (2, 20000))
    arms = [PairStats.of(list(metric[i]), list(covariate[i])) for i in range(2)]
    pooled_cov = sum(np.cov(metric[i], covariate[i])[0, 1] * 19999 for i in range(2))
    pooled_var = sum(covariate[i].var() * 20000 for i in range(2))
    assert cuped_theta(arms) == pytest.approx(pooled_cov / pooled_var, rel=1e-9)
    plain = [mean_estimate(a.x) for a in arms]
    adjusted = cuped_estimates(arms)
    rho2 = np.corrcoef(metric[0], covariate[0])[0, 1] ** 2
    assert adjusted[0].variance == pytest.approx(plain[0].variance * (1 - rho2), rel=0.01)
    # the adjustment moves each arm by theta * (its covariate mean - the pooled mean)
    shift = cuped_theta(arms) * (covariate[0].mean() - covariate.mean())
    assert adjusted[0].mean == pytest.approx(metric[0].mean() - shift, rel=1e-9)


def test_relative_lift_delta_method_by_hand() -> None:
    control, treatment = ArmEstimate(1000, 0.10, 9e-5), ArmEstimate(1000, 0.12, 1.056e-4)
    effect = relative_effect(control, treatment)
    assert effect.estimate == pytest.approx(0.2)
    # v_t / m_c^2 + m_t^2 v_c / m_c^4 = 1.056e-4 / 0.01 + 0.0144 * 9e-5 / 1e-4
    assert effect.variance == pytest.approx(0.01056 + 0.01296)
    absolute = absolute_effect(control, treatment)
    assert absolute.estimate == pytest.approx(0.02) and absolute.variance == pytest.approx(1.956e-4)


def test_degenerate_arms_have_no_usable_variance() -> None:
    assert not relative_effect(ArmEstimate(10, 0.0, 0.1), ArmEstimate(10, 0.1, 0.1)).defined
    assert mean_estimate(MeanStats(1, 5.0, 0.0)).variance == math.inf
    assert math.isnan(ratio_estimate(PairStats(5, 0.0, 0.0, 0.0, 0.0, 0.0)).mean)


def test_winsorize_caps_values_and_refuses_a_bad_cap() -> None:
    assert list(winsorize([1.0, 50.0, 500.0], 100.0)) == [1.0, 50.0, 100.0]
    with pytest.raises(ValueError, match="cap"):
        winsorize([1.0], 0.0)


def test_a_constant_ratio_in_both_arms_is_no_difference() -> None:
    """x ∝ y in every unit of both arms: the delta method's variance cancels to rounding noise,
    which must read as 0 (no information), not as a difference of 1e-16 with a tinier SE."""
    from stats.effects import lift_effect, ratio_estimate
    from stats.sufficient import PairStats

    rng = np.random.default_rng(1)
    arms = []
    for n in (4000, 4100):
        y = rng.integers(1, 9, n).astype(float)
        arms.append(ratio_estimate(PairStats.of(list(0.55 * y), list(y))))
    assert all(a.variance == 0 for a in arms)
    assert not lift_effect(arms[0], arms[1]).defined
