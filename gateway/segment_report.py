"""Pure: an experiment's results broken down by segment, and its differential-impact alerts.

For each segment (a dimension's value) and each treatment: the lift there and in the rest of
the dimension (the arm's sums less the segment's: sums add, so they subtract too), and the
test of their difference, the segment's lift minus the rest's, with the Welch variance (the
two estimates are from disjoint users: Var = V_segment + V_rest). Tested by the always-valid
normal mixture at the experiment's N* (:func:`stats.confidence_sequence.confidence_sequence`),
so the worker may look at every evaluation and the false-alarm rate stays what it says:
an alert is raised below 0.05 / n (weak) and 0.01 / n (strong), n the number of (segment,
treatment) tests, as Statsig flags heterogeneous effects (Bonferroni). Alerts are reported,
never acted on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from gateway.catalogue.metrics import BY_NAME, Metric, denominator, estimate
from gateway.catalogue.quantities import USERS
from gateway.catalogue.sums import EMPTY, VariantSums
from gateway.results import Alert, ArmValue, MetricLift, SegmentResult
from stats import confidence_sequence as cs
from stats.effects import Effect, lift_effect
from stats.srm import srm_check

WEAK = 0.05
STRONG = 0.01
SRM_ALPHA = 0.001  # as the experiment's own sample ratio check, Bonferroni over segments
# The tuning (N*) of a segment's tests when the experiment has none planned yet.
DEFAULT_TUNING = float(cs.GROWTHBOOK_DEFAULT_TUNING)


def finite(x: float) -> float | None:
    """``x``, or None where it is not finite (JSON has no infinity)."""
    return x if math.isfinite(x) else None


def two_sided_lift(variant: str, effect: Effect, alpha: float, tuning: float) -> MetricLift:
    """A lift with its two-sided always-valid interval and p (a confidence sequence at N*
    ``tuning``): for reading, valid at any look; not a decision's test."""
    inference = cs.confidence_sequence(effect, alpha, tuning)
    return MetricLift(
        variant=variant,
        scale="relative" if effect.relative else "absolute",
        lift=finite(effect.estimate),
        ci_low=finite(inference.ci_low),
        ci_high=finite(inference.ci_high),
        p_value=finite(inference.p_value) if effect.defined else None,
        test="none",
        significant=effect.defined and inference.rejects,
    )


def _difference(inside: Effect, rest: Effect, alpha: float, tuning: float) -> float | None:
    """Always-valid p of H0: the segment's lift equals the rest's."""
    if not (inside.defined and rest.defined) or inside.relative != rest.relative:
        return None
    diff = Effect(
        inside.estimate - rest.estimate,
        inside.variance + rest.variance,
        inside.units + rest.units,
        math.inf,
        inside.relative,
    )
    return cs.confidence_sequence(diff, alpha, tuning).p_value


def segment_results(
    variants: Sequence[tuple[str, float]],
    totals: Mapping[str, Mapping[str, int]],
    segments: Mapping[str, Mapping[tuple[str, str], Mapping[str, int]]],
    metric: str,
    alpha: float,
    tuning: float | None,
    min_units: int,
    dimension: str | None = None,
) -> tuple[tuple[SegmentResult, ...], tuple[Alert, ...]]:
    """Every segment's result on ``metric`` and the alerts they raise.

    ``variants``: (name, weight) of the tested arms, the control first; ``totals``: each arm's
    sums; ``segments``: each arm's sums per (dimension, value). A segment is tested once every
    arm has ``min_units`` users in it and in the rest."""
    m: Metric = BY_NAME[metric]
    n_tuning = tuning or DEFAULT_TUNING
    every = sorted({k for arm in segments.values() for k in arm})
    keys = [k for k in every if dimension in (None, k[0])]
    names = [v for v, _ in variants]
    weights = [w for _, w in variants]
    treatments = names[1:]
    # Bonferroni over every segment of every dimension, whichever are shown: an alert's
    # threshold does not depend on the drill-down's filter
    n_tests = max(1, len(every) * len(treatments))
    out, alerts = [], []
    for dim, value in keys:
        inside = {v: VariantSums(segments.get(v, {}).get((dim, value), EMPTY)) for v in names}
        rest = {v: VariantSums(totals.get(v, EMPTY)) - inside[v] for v in names}
        users = {v: inside[v][USERS] for v in names}
        srm = srm_check([users[v] for v in names], weights)
        est = {v: estimate(m, inside[v]) for v in names}
        rest_est = {v: estimate(m, rest[v]) for v in names}
        control = names[0]
        lifts, rest_lifts, differs = [], [], {}
        for t in treatments:
            here = lift_effect(est[control], est[t])
            there = lift_effect(rest_est[control], rest_est[t])
            lifts.append(two_sided_lift(t, here, alpha, n_tuning))
            rest_lifts.append(two_sided_lift(t, there, alpha, n_tuning))
            enough = all(
                inside[v][USERS] >= min_units and rest[v][USERS] >= min_units for v in (control, t)
            )
            p = _difference(here, there, alpha, n_tuning) if enough else None
            differs[t] = p
            if p is not None and p < WEAK / n_tests:
                level: Literal["strong", "weak"] = "strong" if p < STRONG / n_tests else "weak"
                alerts.append(
                    Alert(
                        kind="segment",
                        level=level,
                        message=(
                            f"{t} on {metric} in {dim}={value}: lift {_pct(here)} there against "
                            f"{_pct(there)} in the rest of {dim} (p={p:.2g}, threshold "
                            f"{(STRONG if level == 'strong' else WEAK) / n_tests:.2g})"
                        ),
                        p_value=p,
                        threshold=(STRONG if level == "strong" else WEAK) / n_tests,
                        variant=t,
                        metric=metric,
                        dimension=dim,
                        value=value,
                    )
                )
        if sum(users.values()) and srm.p_value < SRM_ALPHA / max(1, len(every)):
            alerts.append(
                Alert(
                    kind="segment_srm",
                    level="strong",
                    message=(
                        f"sample ratio mismatch in {dim}={value}: users {users} "
                        f"(p={srm.p_value:.2g}); the segment's results may be biased"
                    ),
                    p_value=srm.p_value,
                    threshold=SRM_ALPHA / max(1, len(every)),
                    dimension=dim,
                    value=value,
                )
            )
        out.append(
            SegmentResult(
                dimension=dim,
                value=value,
                metric=metric,
                users=users,
                srm_p_value=srm.p_value if sum(users.values()) else None,
                arms=tuple(
                    ArmValue(
                        variant=v,
                        value=finite(est[v].mean),
                        n=denominator(m, inside[v]),
                        users=users[v],
                        std_error=finite(math.sqrt(est[v].variance)),
                    )
                    for v in names
                ),
                lifts=tuple(lifts),
                rest_lifts=tuple(rest_lifts),
                differs_p=differs,
            )
        )
    return tuple(out), tuple(alerts)


def _pct(effect: Effect) -> str:
    if not math.isfinite(effect.estimate):
        return "undefined"
    return f"{effect.estimate:+.1%}" if effect.relative else f"{effect.estimate:+.4g}"
