"""Per-arm estimates and treatment effects: means, ratio metrics, CUPED, capping.

Every metric reduces to an :class:`ArmEstimate` (mean and the variance of that
mean) per arm; two arms give an :class:`Effect` (absolute or relative lift and
its variance), which every test in this package consumes.

- Ratio metrics randomised by user but measured per search (clicks / searches):
  the delta method, Deng, Knoblich & Lu, "Applying the Delta Method in Metric
  Analytics" (KDD 2018), eq. (4): Var(X̄/Ȳ) ≈ (σ²_x − 2R σ_xy + R² σ²_y) / (n μ_y²).
- CUPED: Deng, Xu, Kohavi & Walker, "Improving the Sensitivity of Online
  Controlled Experiments by Utilizing Pre-Experiment Data" (WSDM 2013), eq. (3)-(4):
  Ŷ_cv = Ȳ − θ (X̄ − E X) with θ = Cov(Y, X) / Var(X), pooled across arms.
- Relative lift: the delta method on Ȳ_t / Ȳ_c − 1 with independent arms (as
  in GrowthBook's gbstats): Var ≈ v_t / μ_c² + μ_t² v_c / μ_c⁴.
- An arm whose units all have the same value (no conversions, or all of them)
  has a sample variance of 0, and the delta method then gives the effect no
  variance at all: a treatment that sells nothing could never be tested. Such
  an arm takes the variance of both arms pooled, which is the variance under
  the null hypothesis of equal means — the same estimate the pooled
  two-proportion z-test uses, and the remedy for the zero-width Wald interval
  at 0 or n successes (Brown, Cai & DasGupta, "Interval Estimation for a
  Binomial Proportion", Statistical Science 16(2), 2001, section 2.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from stats.sufficient import MeanStats, PairStats

Array = npt.NDArray[np.float64]
# Below this share of its terms a difference of float64 terms is cancellation noise.
RELATIVE_PRECISION = 1e-12


def ratio_moments(
    n: npt.ArrayLike,
    mean_x: npt.ArrayLike,
    mean_y: npt.ArrayLike,
    var_x: npt.ArrayLike,
    var_y: npt.ArrayLike,
    cov_xy: npt.ArrayLike,
) -> tuple[Array, Array]:
    """(X̄/Ȳ, its delta-method variance) from per-unit moments; arrays welcome."""
    n_, mx, my, vx, vy, c = (
        np.asarray(a, dtype=np.float64) for a in (n, mean_x, mean_y, var_x, var_y, cov_xy)
    )
    ratio = mx / my
    unit = vx - 2 * ratio * c + ratio * ratio * vy
    # x ∝ y (every unit's ratio alike) cancels to rounding noise, not to 0: below the terms'
    # relative precision it is 0 (else a constant ratio would "differ" between arms by 1e-16).
    unit = np.where(unit > RELATIVE_PRECISION * (vx + ratio * ratio * vy), unit, 0.0)
    return np.asarray(ratio), np.asarray(unit / (n_ * my * my))


def cuped_moments(
    n: npt.ArrayLike,
    mean_x: npt.ArrayLike,
    mean_y: npt.ArrayLike,
    var_x: npt.ArrayLike,
    var_y: npt.ArrayLike,
    cov_xy: npt.ArrayLike,
    theta: npt.ArrayLike,
    pooled_y: npt.ArrayLike,
) -> tuple[Array, Array]:
    """(CUPED-adjusted mean of x, its variance) given θ and the pooled covariate mean y."""
    n_, mx, my, vx, vy, c, th, py = (
        np.asarray(a, dtype=np.float64)
        for a in (n, mean_x, mean_y, var_x, var_y, cov_xy, theta, pooled_y)
    )
    unit = np.maximum(vx - 2 * th * c + th * th * vy, 0.0)
    return np.asarray(mx - th * (my - py)), np.asarray(unit / n_)


def relative_lift(
    mean_c: npt.ArrayLike, var_c: npt.ArrayLike, mean_t: npt.ArrayLike, var_t: npt.ArrayLike
) -> tuple[Array, Array]:
    """(μ_t/μ_c − 1, delta-method variance v_t/μ_c² + μ_t² v_c/μ_c⁴); arrays welcome."""
    mc, vc, mt, vt = (np.asarray(a, dtype=np.float64) for a in (mean_c, var_c, mean_t, var_t))
    return np.asarray(mt / mc - 1), np.asarray(vt / mc**2 + mt * mt * vc / mc**4)


@dataclass(frozen=True)
class ArmEstimate:
    """One arm's metric: the estimate of its mean and the variance of that estimate."""

    n: int
    mean: float
    variance: float  # of the mean, i.e. squared standard error


@dataclass(frozen=True)
class Effect:
    """Treatment minus control (absolute) or treatment / control − 1 (relative)."""

    estimate: float
    variance: float  # of the estimate
    units: int  # control + treatment units
    dof: float  # Welch–Satterthwaite degrees of freedom
    relative: bool

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance)

    @property
    def defined(self) -> bool:
        """False when there is no usable variance (too few units, or a constant metric)."""
        return self.variance > 0 and math.isfinite(self.variance) and math.isfinite(self.estimate)


def mean_estimate(stats: MeanStats) -> ArmEstimate:
    """A per-unit mean (conversion, revenue per user): variance s² / n."""
    if stats.n < 2:
        return ArmEstimate(stats.n, stats.mean, math.inf)
    return ArmEstimate(stats.n, stats.mean, stats.variance / stats.n)


def ratio_estimate(stats: PairStats) -> ArmEstimate:
    """Ratio of per-unit sums, x over y (clicks over searches), by the delta method."""
    if stats.n < 2 or stats.mean_y == 0:
        return ArmEstimate(stats.n, math.nan, math.inf)
    ratio, variance = ratio_moments(
        stats.n, stats.mean_x, stats.mean_y, stats.x.variance, stats.y.variance, stats.covariance
    )
    return ArmEstimate(stats.n, float(ratio), float(variance))


def cuped_theta(arms: Sequence[PairStats]) -> float:
    """θ = Cov(x, y) / Var(y), x the metric and y the covariate (Deng et al. 2013, section 3:
    their cov(Y, X) / var(X)), from moments pooled within arms so that the treatment effect
    does not leak into θ."""
    c_xy = sum(a.c_xy for a in arms)
    m2_y = sum(a.m2_y for a in arms)
    return c_xy / m2_y if m2_y > 0 else 0.0


def cuped_estimates(arms: Sequence[PairStats]) -> list[ArmEstimate]:
    """CUPED-adjusted means; each PairStats holds x = metric, y = pre-exposure covariate."""
    theta = cuped_theta(arms)
    total = sum(a.n for a in arms)
    if total == 0:
        return [ArmEstimate(0, 0.0, math.inf) for _ in arms]
    pooled_y = sum(a.n * a.mean_y for a in arms) / total
    out = []
    for a in arms:
        if a.n < 2:
            out.append(ArmEstimate(a.n, a.mean_x, math.inf))
            continue
        mean, variance = cuped_moments(
            a.n, a.mean_x, a.mean_y, a.x.variance, a.y.variance, a.covariance, theta, pooled_y
        )
        out.append(ArmEstimate(a.n, float(mean), float(variance)))
    return out


def winsorize(values: npt.ArrayLike, cap: float) -> npt.NDArray[np.float64]:
    """Per-unit values capped at ``cap`` (absolute winsorisation), before aggregation."""
    if not cap > 0:
        raise ValueError(f"cap must be > 0, got {cap}")
    return np.minimum(np.asarray(values, dtype=np.float64), cap)


def _welch_dof(control: ArmEstimate, treatment: ArmEstimate) -> float:
    vc, vt = control.variance, treatment.variance
    denominator = 0.0
    if control.n > 1:
        denominator += vc * vc / (control.n - 1)
    if treatment.n > 1:
        denominator += vt * vt / (treatment.n - 1)
    return (vc + vt) ** 2 / denominator if denominator > 0 else math.inf


def pooled_estimate(arms: Sequence[ArmEstimate]) -> ArmEstimate:
    """The units of every arm with a variance (two units or more) as one sample.

    Merged by Chan et al.'s update (:class:`stats.sufficient.MeanStats`); the
    result's ``variance`` is that of the pooled mean, as for any arm.
    """
    total = MeanStats.empty()
    for arm in arms:
        if arm.n >= 2 and math.isfinite(arm.variance):
            total = total + MeanStats(arm.n, arm.mean, arm.variance * arm.n * (arm.n - 1))
    return ArmEstimate(total.n, total.mean, total.variance / total.n if total.n else math.inf)


def without_degenerate_variance(
    control: ArmEstimate, treatment: ArmEstimate
) -> tuple[ArmEstimate, ArmEstimate]:
    """Arms of at least two units with zero sample variance take the pooled variance."""
    if (control.variance > 0 or control.n < 2) and (treatment.variance > 0 or treatment.n < 2):
        return control, treatment
    both = pooled_estimate((control, treatment))
    pooled = both.variance * both.n  # the units' variance, not the mean's
    if not pooled > RELATIVE_PRECISION * both.mean * both.mean:
        # every unit in both arms has the same value (up to rounding): no information
        return control, treatment

    def pooled_if_degenerate(arm: ArmEstimate) -> ArmEstimate:
        return replace(arm, variance=pooled / arm.n) if arm.n >= 2 and arm.variance == 0 else arm

    return pooled_if_degenerate(control), pooled_if_degenerate(treatment)


def absolute_effect(control: ArmEstimate, treatment: ArmEstimate) -> Effect:
    """Treatment mean minus control mean."""
    control, treatment = without_degenerate_variance(control, treatment)
    return Effect(
        treatment.mean - control.mean,
        control.variance + treatment.variance,
        control.n + treatment.n,
        _welch_dof(control, treatment),
        relative=False,
    )


def relative_effect(control: ArmEstimate, treatment: ArmEstimate) -> Effect:
    """Treatment mean over control mean, minus one (delta method)."""
    control, treatment = without_degenerate_variance(control, treatment)
    if control.mean == 0 or not math.isfinite(control.mean):
        return Effect(math.nan, math.inf, control.n + treatment.n, math.inf, relative=True)
    if not (math.isfinite(control.variance) and math.isfinite(treatment.variance)):
        # An arm of fewer than two units: an estimate, but no variance yet (and no 0 * inf).
        ratio = treatment.mean / control.mean - 1
        return Effect(ratio, math.inf, control.n + treatment.n, math.inf, relative=True)
    estimate, variance = relative_lift(
        control.mean, control.variance, treatment.mean, treatment.variance
    )
    return Effect(
        float(estimate),
        float(variance),
        control.n + treatment.n,
        _welch_dof(control, treatment),
        relative=True,
    )


def lift_effect(control: ArmEstimate, treatment: ArmEstimate) -> Effect:
    """The relative lift, or the absolute difference when the control's mean is 0.

    Both test the same null hypothesis (equal means); the relative lift is
    undefined when the control has no conversions (or no revenue) at all.
    """
    if control.mean == 0 and control.n >= 2:
        return absolute_effect(control, treatment)
    return relative_effect(control, treatment)
