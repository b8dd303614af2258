"""Pure: an evaluation's results as an experimenter reads them (:mod:`gateway.results`) —
every catalogue metric with each arm's value, each treatment's lift with its always-valid
interval, its test and role — and how far the success test is from a decision."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from msgspec.structs import replace

from gateway.catalogue.metrics import BY_NAME, FUNNEL, METRICS, Metric, denominator
from gateway.catalogue.quantities import USERS
from gateway.config import Experiment
from gateway.results import (
    ArmValue,
    FunnelStep,
    MetricLift,
    MetricResult,
    Role,
    Test,
    TimeToDecision,
)
from gateway.segment_report import DEFAULT_TUNING, finite, two_sided_lift
from stats import confidence_sequence as cs
from stats.analysis import AnalysisPlan, ArmData
from stats.decision import ArmAnalysis, GuardrailResult
from stats.effects import ArmEstimate, lift_effect
from stats.inference import Inference
from stats.mixture import halfwidth_two_sided
from stats.planning import units_to_conclude
from stats.sequential import tau2_for_horizon

DAY_S = 86_400.0
# A rate needs this much runtime behind it: the first minutes' users are no rate.
MIN_RATE_RUNTIME_S = 600.0
TESTS: dict[Role, Test] = {
    "success": "superiority",
    "guardrail": "non-inferiority",
    "deterioration": "deterioration",
    "monitor": "none",
}


def role_of(experiment: Experiment, metric: str) -> Role:
    a = experiment.analysis
    if metric == a.primary_metric:
        return "success"
    if any(g.metric == metric for g in a.guardrails):
        return "guardrail"
    return "deterioration" if a.deterioration else "monitor"


def _arm_value(variant: str, metric: Metric, e: ArmEstimate, row: Mapping[str, int]) -> ArmValue:
    return ArmValue(
        variant=variant,
        value=finite(e.mean),
        n=denominator(metric, row),
        users=int(row.get(USERS, 0)),
        std_error=finite(math.sqrt(e.variance)) if e.variance >= 0 else None,
    )


def _from_inference(
    variant: str,
    relative: bool,
    i: Inference,
    test: Test,
    *,
    margin: float | None = None,
    significant: bool = False,
    harm: bool = False,
) -> MetricLift:
    return MetricLift(
        variant=variant,
        scale="relative" if relative else "absolute",
        lift=finite(i.estimate),
        ci_low=finite(i.ci_low),
        ci_high=finite(i.ci_high),
        p_value=finite(i.p_value),
        test=test,
        margin=margin,
        significant=significant,
        harm=harm,
    )


def _one_sided(variant: str, relative: bool, g: GuardrailResult, test: Test) -> MetricLift:
    return _from_inference(
        variant,
        relative,
        g.inference,
        test,
        margin=g.margin if test == "non-inferiority" else None,
        harm=g.breached,
    )


def _unanalysed(
    variant: str, control: ArmEstimate, treatment: ArmEstimate, test: Test
) -> MetricLift:
    effect = lift_effect(control, treatment)
    return MetricLift(
        variant=variant,
        scale="relative" if effect.relative else "absolute",
        lift=finite(effect.estimate),
        ci_low=None,
        ci_high=None,
        p_value=None,
        test=test,
    )


def metric_results(
    experiment: Experiment,
    arms: Sequence[ArmData],
    rows: Sequence[Mapping[str, int]],
    analysed: Sequence[ArmAnalysis] = (),
) -> tuple[MetricResult, ...]:
    """Every catalogue metric: each arm's value (the control first) and each treatment's lift.

    The success metric's lifts are the analysis's own (what the decision used); a guardrail's
    and a deterioration metric's are their one-sided tests (the open end is None). Before the
    test is planned (``analysed`` empty) the lifts are estimates without intervals."""
    by_variant = {a.variant: a for a in analysed}
    guard_margin: dict[str, float] = {g.metric: g.margin for g in experiment.analysis.guardrails}
    out = []
    for metric in METRICS:
        role = role_of(experiment, metric.name)
        values = tuple(
            _arm_value(a.variant, metric, a.metrics[metric.name], row)
            for a, row in zip(arms, rows, strict=True)
        )
        control = arms[0].metrics[metric.name]
        lifts = []
        for arm in arms[1:]:
            result = by_variant.get(arm.variant)
            if result is None:
                lift = _unanalysed(arm.variant, control, arm.metrics[metric.name], TESTS[role])
                if role == "guardrail":
                    lift = replace(lift, margin=guard_margin[metric.name])
            elif role == "success":
                lift = _from_inference(
                    arm.variant,
                    result.relative,
                    result.primary,
                    "superiority",
                    significant=result.significant,
                    harm=result.loses,
                )
                if result.p_adjusted is not None:  # the corrected p the decision used
                    lift = replace(lift, p_value=finite(result.p_adjusted))
            else:
                found = [
                    g
                    for g in (*result.guardrails, *result.deteriorations)
                    if g.metric == metric.name
                ]
                relative = lift_effect(control, arm.metrics[metric.name]).relative
                if found and role == "guardrail":
                    lift = _one_sided(arm.variant, relative, found[0], "non-inferiority")
                elif found:
                    lift = _one_sided(arm.variant, relative, found[-1], "deterioration")
                else:
                    lift = _unanalysed(arm.variant, control, arm.metrics[metric.name], "none")
            lifts.append(lift)
        out.append(
            MetricResult(
                metric=metric.name,
                label=metric.label,
                role=role,
                direction=metric.direction,
                unit=metric.unit,
                per=metric.per,
                arms=values,
                lifts=tuple(lifts),
            )
        )
    return tuple(out)


def time_to_decision(
    experiment: Experiment,
    arms: Sequence[ArmData],
    plan: AnalysisPlan | None,
    runtime_s: float,
) -> TimeToDecision:
    """Units (and days at the rate so far) until the success test concludes if the true
    lift is the planned minimum detectable effect: for a confidence sequence or mSPRT, where
    its interval around that lift first excludes 0 (:func:`stats.planning.units_to_conclude`,
    at the first level Holm tests at, α / treatments); for a group-sequential plan, its
    horizon. The per-unit variance is the treatments' lift's as measured so far."""
    a = experiment.analysis
    primary = a.primary_metric
    units = sum(arm.metrics[primary].n for arm in arms)
    rate = units / runtime_s * DAY_S if runtime_s >= MIN_RATE_RUNTIME_S and units else None
    needed_total: float | None = None
    method = plan.method if plan is not None else None
    if plan is not None and plan.method == "group-sequential":
        assert plan.horizon_units_per_arm
        needed_total = float(plan.horizon_units_per_arm * len(arms))
    elif plan is not None and len(arms) > 1:
        control = arms[0].metrics[primary]
        effects = [lift_effect(control, t.metrics[primary]) for t in arms[1:]]
        defined = [e for e in effects if e.defined]
        if defined:
            unit_variance = sum(e.variance * e.units for e in defined) / len(defined)
            alpha = plan.alpha / len(effects)
            weights = [arm.weight for arm in arms]
            pair_share = (weights[0] + sum(weights[1:]) / len(effects)) / sum(weights)
            pair = _pair_units(unit_variance, a.mde, plan, alpha)
            if pair is not None and pair_share > 0:
                needed_total = pair / pair_share
    needed = None if needed_total is None else max(0.0, needed_total - units)
    return TimeToDecision(
        effect=a.mde,
        tuning_units=plan.tuning_units if plan is not None else None,
        units=units,
        units_to_conclude=needed_total,
        units_needed=needed,
        units_per_day=rate,
        days_left=None if needed is None or not rate else needed / rate,
        method=method,
    )


def _pair_units(
    unit_variance: float, effect: float, plan: AnalysisPlan, alpha: float
) -> float | None:
    """Control + treatment units at which the two-sided always-valid interval around
    ``effect`` first excludes 0."""
    if not unit_variance > 0:
        return None
    if plan.method == "msprt":
        t2 = tau2_for_horizon(unit_variance, plan.tuning_units, alpha)
        return units_to_conclude(
            lambda n: float(halfwidth_two_sided(unit_variance / n, t2, alpha)), effect
        )
    return units_to_conclude(
        lambda n: float(cs.halfwidth(unit_variance / n, n, plan.tuning_units, alpha)), effect
    )


def funnel(
    arms: Sequence[ArmData], rows: Sequence[Mapping[str, int]], alpha: float, tuning: float | None
) -> tuple[FunnelStep, ...]:
    """The search funnel, step by step (gateway.catalogue.metrics.FUNNEL)."""
    n_tuning = tuning or DEFAULT_TUNING
    out = []
    for step, name in FUNNEL:
        metric = BY_NAME[name]
        control = arms[0].metrics[name]
        out.append(
            FunnelStep(
                step=step,
                metric=name,
                arms=tuple(
                    _arm_value(a.variant, metric, a.metrics[name], row)
                    for a, row in zip(arms, rows, strict=True)
                ),
                lifts=tuple(
                    two_sided_lift(
                        a.variant, lift_effect(control, a.metrics[name]), alpha, n_tuning
                    )
                    for a in arms[1:]
                ),
            )
        )
    return tuple(out)
