"""One experiment, end to end and pure: per-arm estimates in, tests, SRM and a decision out.

The primary metric is tested on the lift of every treatment over control:
relative, or the absolute difference while the control's mean is 0
(:func:`stats.effects.lift_effect`). With the plan's method:

- ``confidence-sequence`` / ``msprt``: always valid at every evaluation,
  tuned to ``tuning_units`` (N*, total units). What is reported is what the
  decision uses, and it never goes back on itself: each arm's p-value is the
  running minimum of its always-valid p-values (Johari, Pekelis & Walsh,
  "Always Valid Inference", Operations Research 70(3), 2022, eq. (4):
  p_n = min(p_{n−1}, 1/Λ_n)), adjusted across arms by the plan's correction,
  and its interval is the running intersection of its confidence sequence
  (Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric,
  nonasymptotic confidence sequences", Annals of Statistics 49(2), 2021,
  section 2: the intersection of a confidence sequence is one too) at the
  level the correction tested it at (:func:`stats.multiple.decision_levels`).
  For the normal mixture the interval at level a excludes 0 exactly when the
  p-value is at most a, so an arm is significant exactly when its reported
  interval excludes 0, and once significant it stays so.
- ``group-sequential``: alpha spending over ``looks`` equally spaced looks up
  to ``horizon_units_per_arm``; a look is taken the first time the smallest
  arm passes k / looks of the horizon, and only then can a boundary be
  crossed (Bonferroni across arms). What is reported is the inference of the
  last look taken — its estimate, its repeated confidence interval (intersected
  with the earlier looks'), its nominal p-value next to its boundary's nominal
  level — and it stays so until the next look: the boundary of look k says
  nothing about the data between looks k and k + 1, which are not a look
  (Jennison & Turnbull 2000, ch. 9: repeated confidence intervals cover the
  parameter simultaneously at the planned looks only). So the interval excludes
  0 exactly when a boundary was crossed, and a crossing is kept. Once the last
  look is taken the horizon is reached at every later evaluation.

Guardrails are one-sided confidence sequences on the lift, H0: lift ≥ −margin,
checked at every evaluation, with running minima and intersections too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from scipy.stats import norm

from stats import confidence_sequence as cs
from stats.decision import ArmAnalysis, Decision, GuardrailResult, PolicySettings, decide
from stats.effects import ArmEstimate, Effect, lift_effect
from stats.group_sequential import METHOD as GROUP_SEQUENTIAL
from stats.group_sequential import Checkpoint, Spending, advance, group_sequential
from stats.inference import Inference, uninformative
from stats.mixture import one_sided, two_sided
from stats.multiple import Correction, adjust, decision_levels, level_set
from stats.sequential import tau2_for_horizon
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
    # Which way is better, by metric: +1 higher, -1 lower (absent: higher).
    directions: Mapping[str, int] = field(default_factory=dict)
    # Deterioration: metrics each treatment is tested on for a significant harm (one-sided,
    # Bonferroni at alpha / their number); a harm blocks its promotion.
    deterioration: tuple[str, ...] = ()
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
class Running:
    """What one test of one arm carries from evaluation to evaluation."""

    p_min: float = 1.0
    relative: bool = True  # the scale of the intervals; a change of scale starts them afresh
    intervals: Mapping[float, tuple[float, float]] = field(default_factory=dict)  # by level
    crossed_look: int = 0  # group-sequential: the look whose boundary was crossed
    crossed_sign: int = 0
    estimate: float = math.nan  # group-sequential: the estimate at the last look taken

    def narrowed(self, level: float, low: float, high: float) -> tuple[float, float]:
        """The running intersection at ``level`` with [low, high] (kept if they are disjoint)."""
        old_low, old_high = self.intervals.get(level, (-math.inf, math.inf))
        new_low, new_high = max(old_low, low), min(old_high, high)
        return (old_low, old_high) if new_low > new_high else (new_low, new_high)


@dataclass(frozen=True)
class ArmState:
    primary: Running = field(default_factory=Running)
    guardrails: Mapping[str, Running] = field(default_factory=dict)
    deterioration: Mapping[str, Running] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    arms: tuple[ArmAnalysis, ...]
    srm: SrmResult
    decision: Decision
    look: int  # group-sequential looks taken so far (0 for always-valid methods)
    state: Mapping[str, ArmState]  # to pass to the next evaluation
    boundaries: Checkpoint | None = None  # group-sequential: the recursion, to pass on too


def current_look(min_units: int, plan: AnalysisPlan) -> int:
    """How many planned looks the smallest arm has reached."""
    assert plan.horizon_units_per_arm
    return min(plan.looks, math.floor(min_units * plan.looks / plan.horizon_units_per_arm))


def _tau2(effect: Effect, plan: AnalysisPlan) -> float:
    """The mixing variance of the plan's always-valid method for this effect (one per arm)."""
    if plan.method == "msprt":
        return tau2_for_horizon(effect.variance * effect.units, plan.tuning_units, plan.alpha)
    return float(cs.tau2(effect.variance, effect.units, plan.tuning_units, plan.alpha))


def _method_name(plan: AnalysisPlan) -> str:
    return "msprt" if plan.method == "msprt" else cs.METHOD


def _always_valid(
    effects: Sequence[Effect], previous: Sequence[Running], plan: AnalysisPlan
) -> list[tuple[Inference, float, bool, Running]]:
    """(reported inference, adjusted p, significant, carried state) per arm."""
    m = len(effects)
    name = _method_name(plan)
    tau2s = [_tau2(e, plan) if e.defined else math.nan for e in effects]
    p_now = [
        two_sided(name, e, t, plan.alpha, 0.0).p_value if e.defined else 1.0
        for e, t in zip(effects, tau2s, strict=True)
    ]
    p_min = [min(prev.p_min, p) for prev, p in zip(previous, p_now, strict=True)]
    adjusted = adjust(p_min, plan.correction)
    levels = decision_levels(p_min, plan.alpha, plan.correction)
    out = []
    for effect, tau2, prev, p, p_adj, level in zip(
        effects, tau2s, previous, p_min, adjusted, levels, strict=True
    ):
        intervals = dict(prev.intervals) if prev.relative == effect.relative else {}
        current = Running(p, effect.relative, intervals)
        for a in level_set(m, plan.alpha, plan.correction):
            if effect.defined:
                now = two_sided(name, effect, tau2, a, 0.0)
                intervals[a] = current.narrowed(a, now.ci_low, now.ci_high)
        low, high = intervals.get(level, (-math.inf, math.inf))
        inference = Inference(name, effect.estimate, low, high, p)
        out.append((inference, p_adj, p_adj <= plan.alpha, replace(current, intervals=intervals)))
    return out


def _group_sequential(
    effects: Sequence[Effect],
    previous: Sequence[Running],
    plan: AnalysisPlan,
    look: int,
    new: bool,
    carried: Checkpoint | None,
) -> tuple[list[tuple[Inference, float, int, bool, Running]], Checkpoint | None]:
    """((the last look's inference, its boundary's nominal p, crossing sign, scale, carried
    state) per arm, the boundary recursion as of that look)."""
    alpha = plan.alpha / len(effects)
    checkpoint, boundary = carried, math.inf
    if look >= 1:
        if (
            carried is None
            or not carried.of(plan.looks, alpha, plan.spending)
            or carried.look != look
        ):
            # A new look: one step on from the carried recursion (every step without one).
            checkpoint = advance(plan.looks, alpha, plan.spending, look, carried)
        assert checkpoint is not None
        boundary = checkpoint.boundary
    p_boundary = float(2 * norm.sf(boundary))
    out = []
    for effect, prev in zip(effects, previous, strict=True):
        state = prev
        if new:
            if state.relative != effect.relative:  # a change of scale starts afresh
                state = Running(relative=effect.relative)
            now = group_sequential(effect, boundary)
            crossing = not state.crossed_look and now.rejects
            low, high = state.intervals.get(alpha, (-math.inf, math.inf))
            low, high = max(low, now.ci_low), min(high, now.ci_high)
            if low > high:  # the looks' intervals contradict each other (probability <= alpha):
                # keep the one the crossing was decided on, this look's or an earlier one's
                low, high = (now.ci_low, now.ci_high) if crossing else state.intervals[alpha]
            if crossing:
                state = replace(state, crossed_look=look, crossed_sign=1 if now.ci_low > 0 else -1)
            state = replace(
                state, p_min=now.p_value, estimate=now.estimate, intervals={alpha: (low, high)}
            )
        if alpha in state.intervals:
            low, high = state.intervals[alpha]
            # (records from before the estimate was kept: the current one)
            estimate = state.estimate if math.isfinite(state.estimate) else effect.estimate
            inference = Inference(GROUP_SEQUENTIAL, estimate, low, high, state.p_min)
            relative = state.relative
        else:  # no look taken yet
            inference, relative = uninformative(GROUP_SEQUENTIAL, effect.estimate), effect.relative
        out.append((inference, p_boundary, state.crossed_sign, relative, state))
    return out, checkpoint


def _one_sided(
    control: ArmEstimate,
    treatment: ArmEstimate,
    margin: float,
    better: int,
    alpha: float,
    plan: AnalysisPlan,
    prev: Running,
) -> tuple[Inference, Running]:
    """The always-valid test that the treatment is worse than ``margin`` allows (H0: lift ≥
    −margin when higher is better, ≤ +margin when lower is), with its running minimum p and
    its running one-sided bound (Johari et al. 2022 eq. (4); Howard et al. 2021 section 2)."""
    effect = lift_effect(control, treatment)
    scale = 1.0 if effect.relative else control.mean
    null = -better * margin * scale
    alternative: Literal["less", "greater"] = "less" if better > 0 else "greater"
    if not effect.defined or effect.units < 1:  # nothing new: what was found stands
        low, high = prev.intervals.get(alpha, (-math.inf, math.inf))
        carried = Inference(cs.METHOD, effect.estimate, low, high, prev.p_min, null, alternative)
        return carried, prev
    tau2 = float(cs.tau2(effect.variance, effect.units, plan.tuning_units, alpha))
    now = one_sided(cs.METHOD, effect, tau2, alpha, alternative, null)
    state = prev if prev.relative == effect.relative else Running(relative=effect.relative)
    low, high = state.narrowed(alpha, now.ci_low, now.ci_high)
    p = min(state.p_min, now.p_value)
    state = Running(p, effect.relative, {alpha: (low, high)})
    return replace(now, ci_low=low, ci_high=high, p_value=p), state


def _guardrail(
    control: ArmEstimate,
    treatment: ArmEstimate,
    margin: float,
    plan: AnalysisPlan,
    prev: Running,
    better: int = 1,
) -> tuple[Inference, Running]:
    """Non-inferiority at the plan's alpha, not corrected across guardrails (Schultzberg,
    Ankargren & Frånberg, "Risk-aware product decisions in A/B tests with multiple metrics",
    2024: guardrails are not corrected; the success metric's power is, see
    stats.planning.risk_aware_power)."""
    return _one_sided(control, treatment, margin, better, plan.alpha, plan, prev)


def analyse(
    arms: Sequence[ArmData],
    plan: AnalysisPlan,
    settings: PolicySettings,
    runtime_s: float,
    last_look: int = 0,
    state: Mapping[str, ArmState] | None = None,
    boundaries: Checkpoint | None = None,
) -> Analysis:
    """Analyse one experiment; ``arms[0]`` is control.

    ``last_look``, ``state`` and ``boundaries`` carry over from the previous analysis.
    """
    state = state or {}
    control, treatments = arms[0], arms[1:]
    base = control.metrics[plan.primary_metric]
    effects = [lift_effect(base, t.metrics[plan.primary_metric]) for t in treatments]
    units = [base.n] + [t.metrics[plan.primary_metric].n for t in treatments]
    previous = [state.get(t.variant, ArmState()) for t in treatments]
    better = plan.directions.get(plan.primary_metric, 1)
    primaries = [p.primary for p in previous]
    look, horizon_reached, checkpoint = last_look, False, None
    # (inference, adjusted p, boundary p, significant, direction, relative scale, carried state)
    results: list[tuple[Inference, float | None, float | None, bool, int, bool, Running]] = []
    if plan.method == "group-sequential":
        now = current_look(min(units), plan)
        new_look = now > last_look
        look = max(now, last_look)
        # Past the last look nothing is left to wait for, at this evaluation or any later one.
        horizon_reached = look == plan.looks
        tests, checkpoint = _group_sequential(effects, primaries, plan, look, new_look, boundaries)
        for inference, p_boundary, sign, relative, carried in tests:
            results.append((inference, None, p_boundary, sign != 0, sign, relative, carried))
    else:
        tested = zip(effects, _always_valid(effects, primaries, plan), strict=True)
        for e, (inference, p_adj, significant, carried) in tested:
            sign = 0
            if significant:  # its interval excludes 0 on one side (nested: it stays there)
                if inference.ci_low > 0 or inference.ci_high < 0:
                    sign = 1 if inference.ci_low > 0 else -1
                else:
                    sign = 1 if inference.estimate > 0 else -1
            results.append((inference, p_adj, None, significant, sign, e.relative, carried))

    analyses, new_state = [], {}
    for t, effect, prev, result in zip(treatments, effects, previous, results, strict=True):
        inference, adjusted, boundary_p, significant, sign, relative, carried = result
        guardrails, guard_state = [], {}
        for metric, margin in plan.guardrails:
            guard, kept = _guardrail(
                control.metrics[metric],
                t.metrics[metric],
                margin,
                plan,
                prev.guardrails.get(metric, Running()),
                plan.directions.get(metric, 1),
            )
            guardrails.append(GuardrailResult(metric, margin, guard))
            guard_state[metric] = kept
        harms, harm_state = [], {}
        alpha_harm = plan.alpha / max(1, len(plan.deterioration))
        for metric in plan.deterioration:
            harm, kept = _one_sided(
                control.metrics[metric],
                t.metrics[metric],
                0.0,
                plan.directions.get(metric, 1),
                alpha_harm,
                plan,
                prev.deterioration.get(metric, Running()),
            )
            harms.append(GuardrailResult(metric, 0.0, harm))
            harm_state[metric] = kept
        analyses.append(
            ArmAnalysis(
                t.variant,
                effect.units - base.n,
                inference,
                adjusted,
                significant,
                tuple(guardrails),
                direction=sign,
                relative=relative,
                p_boundary=boundary_p,
                look=look if plan.method == "group-sequential" else None,
                better=better,
                deteriorations=tuple(harms),
            )
        )
        new_state[t.variant] = ArmState(carried, guard_state, harm_state)
    srm = srm_check(units, [a.weight for a in arms])
    decision = decide(control.variant, base.n, analyses, srm, settings, runtime_s, horizon_reached)
    return Analysis(tuple(analyses), srm, decision, look, new_state, checkpoint)
