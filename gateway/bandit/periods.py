"""A bandit's arms across its periods: SRM per period, and rewards weighted by period.

Every re-weighting starts a period with weights of its own and users hashed afresh
(:attr:`gateway.config.Experiment.period`), so within a period each user is in one
arm and each arm's units are a random sample of that period's traffic.

- **SRM** is checked per period, against the weights that were in force in it
  (Pearson's chi-square, :func:`stats.srm.srm_check`); the smallest p-value is
  Bonferroni-adjusted by the number of periods checked.
- **Rewards.** Pooling every period's units per arm would confound arm and time: an
  arm given most of its traffic while the base rate was high would look better than it
  is (Simpson's paradox). As GrowthBook's bandits do, each arm's reward is the mean
  of its per-period means weighted by the period's total units — the same weights
  for every arm — with variance Σ_p w_p² σ_a² / n_ap / (Σ_p w_p)², where σ_a² is the
  arm's variance per unit over all its periods (steadier than one period's few units;
  an arm without variation yet borrows the other arms' mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stats.effects import ArmEstimate
from stats.srm import srm_check


@dataclass(frozen=True)
class Period:
    """One period: the weights in force (None if unrecorded) and each arm's reward in it."""

    weights: tuple[float, ...] | None
    arms: tuple[ArmEstimate, ...]


@dataclass(frozen=True)
class PeriodSrm:
    p_value: float  # smallest per-period p, times the periods checked (capped at 1)
    worst: int | None  # the period it came from
    checked: int


def period_srm(periods: Sequence[Period]) -> PeriodSrm:
    """Each period's unit counts against its own weights."""
    best: tuple[float, int | None] = (1.0, None)
    checked = 0
    for i, period in enumerate(periods):
        if period.weights is None or sum(a.n for a in period.arms) == 0:
            continue
        checked += 1
        p = srm_check([a.n for a in period.arms], period.weights).p_value
        if p < best[0]:
            best = (p, i)
    return PeriodSrm(min(1.0, best[0] * max(checked, 1)), best[1], checked)


def unit_variances(pooled: Sequence[ArmEstimate]) -> tuple[float, ...]:
    """Each arm's variance per unit; 0 for every arm when no arm varies yet."""
    own = [
        a.variance * a.n if a.n >= 2 and math.isfinite(a.variance) and a.variance > 0 else 0.0
        for a in pooled
    ]
    varying = [v for v in own if v > 0]
    fallback = sum(varying) / len(varying) if varying else 0.0
    return tuple(v if v > 0 else fallback for v in own)


def weighted_rewards(
    periods: Sequence[Period], pooled: Sequence[ArmEstimate]
) -> tuple[ArmEstimate, ...]:
    """Each arm's period-weighted reward (``pooled``: its estimate over all periods at once)."""
    sigma2 = unit_variances(pooled)
    out = []
    for a, s2 in enumerate(sigma2):
        total_w = mean = var = 0.0
        units = 0
        for period in periods:
            arm = period.arms[a]
            if arm.n == 0 or not math.isfinite(arm.mean):
                continue
            w = float(sum(x.n for x in period.arms))
            total_w += w
            mean += w * arm.mean
            var += w * w * s2 / arm.n
            units += arm.n
        if total_w == 0:
            out.append(ArmEstimate(0, math.nan, math.inf))
        else:
            out.append(ArmEstimate(units, mean / total_w, var / total_w**2))
    return tuple(out)
