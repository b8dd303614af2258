"""One experiment, end to end and pure: per-arm estimates in, tests, SRM and a decision out.

The primary metric is tested on the relative lift of every treatment over
control with the plan's method:

- ``confidence-sequence`` / ``msprt``: always valid at every evaluation;
  tuned to ``tuning_units`` (N*, total units); p-values adjusted across arms
  (Holm by default), intervals at α / arms.
- ``group-sequential``: alpha spending over ``looks`` equally spaced looks
  up to ``horizon_units_per_arm``; a look is taken the first time the smallest
  arm passes k / looks of the horizon, and only then can it act (Bonferroni
  across arms). Between looks nothing is decided.

Guardrails are always one-sided confidence sequences on the relative lift,
H0: lift >= −margin, checked at every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from stats.confidence_sequence import confidence_sequence, confidence_sequence_one_sided
from stats.decision import ArmAnalysis, Decision, GuardrailResult, PolicySettings, decide
from stats.effects import ArmEstimate, Effect, relative_effect
from stats.group_sequential import Spending, boundaries, group_sequential, look_fractions
from stats.inference import Inference, uninformative
from stats.multiple import Correction, adjust
from stats.sequential import msprt, tau2_for_horizon
from stats.srm import SrmResult, srm_check

Method = Literal["confidence-sequence", "msprt", "group-sequential"]


@dataclass(frozen=True)
class AnalysisPlan:
    primary_metric: str
    alpha: float
    method: Method
    tuning_units: float  # N*: total units at which the always-valid tests are tightest
    correction: Correction = "holm"
    guardrails: tuple[tuple[str, float], ...] = ()  # (metric, relative margin)
    horizon_units_per_arm: int | None = None
    looks: int = 100
    spending: Spending = "obrien-fleming"

    def __post_init__(self) -> None:
        if self.method == "group-sequential" and not self.horizon_units_per_arm:
            raise ValueError("method 'group-sequential' needs horizon_units_per_arm")


@dataclass(frozen=True)
class ArmData:
    variant: str
    weight: float
    metrics: Mapping[str, ArmEstimate]  # by metric name


@dataclass(frozen=True)
class Analysis:
    arms: tuple[ArmAnalysis, ...]
    srm: SrmResult
    decision: Decision
    look: int  # group-sequential looks taken so far (0 for always-valid methods)


def _always_valid(effect: Effect, plan: AnalysisPlan, alpha: float) -> Inference:
    if plan.method == "msprt":
        if not effect.defined:
            return uninformative("msprt", effect.estimate)
        tau2 = tau2_for_horizon(effect.variance * effect.units, plan.tuning_units, alpha)
        return msprt(effect, alpha, tau2)
    return confidence_sequence(effect, alpha, plan.tuning_units)


def current_look(min_units: int, plan: AnalysisPlan) -> int:
    """How many planned looks the smallest arm has reached."""
    assert plan.horizon_units_per_arm
    return min(plan.looks, math.floor(min_units * plan.looks / plan.horizon_units_per_arm))


def analyse(
    arms: Sequence[ArmData],
    plan: AnalysisPlan,
    settings: PolicySettings,
    runtime_s: float,
    last_look: int = 0,
) -> Analysis:
    """Analyse one experiment; ``arms[0]`` is control. ``last_look``: looks already taken."""
    control, treatments = arms[0], arms[1:]
    m = max(1, len(treatments))
    base = control.metrics[plan.primary_metric]
    effects = [relative_effect(base, t.metrics[plan.primary_metric]) for t in treatments]
    units = [base.n] + [t.metrics[plan.primary_metric].n for t in treatments]
    look, horizon_reached = last_look, False

    if plan.method == "group-sequential":
        now = current_look(min(units), plan)
        c = boundaries(look_fractions(plan.looks), plan.alpha / m, plan.spending)
        new_look = now > last_look
        look = max(now, last_look)
        boundary = c[look - 1] if look >= 1 else math.inf
        primaries = [group_sequential(e, boundary) for e in effects]
        p_adjusted = [min(1.0, p.p_value * m) for p in primaries]
        significant = [new_look and p.rejects for p in primaries]
        horizon_reached = new_look and look == plan.looks
    else:
        primaries = [_always_valid(e, plan, plan.alpha / m) for e in effects]
        raw = [_always_valid(e, plan, plan.alpha).p_value for e in effects]
        p_adjusted = adjust(raw, plan.correction)
        significant = [p <= plan.alpha for p in p_adjusted]

    analyses = []
    for t, effect, inference, p_adj, sig in zip(
        treatments, effects, primaries, p_adjusted, significant, strict=True
    ):
        guardrails = tuple(
            GuardrailResult(
                metric,
                margin,
                confidence_sequence_one_sided(
                    relative_effect(control.metrics[metric], t.metrics[metric]),
                    plan.alpha,
                    plan.tuning_units,
                    "less",
                    null=-margin,
                ),
            )
            for metric, margin in plan.guardrails
        )
        analyses.append(
            ArmAnalysis(t.variant, effect.units - base.n, inference, p_adj, sig, guardrails)
        )
    srm = srm_check(units, [a.weight for a in arms])
    decision = decide(control.variant, base.n, analyses, srm, settings, runtime_s, horizon_reached)
    return Analysis(tuple(analyses), srm, decision, look)
