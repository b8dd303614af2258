"""Evaluates each running experiment with the stats engine and applies its decision.

The pure part (:func:`evaluate`) turns the integer sums Redis keeps into
per-arm estimates, builds the analysis plan from the experiment's config and
runs :func:`stats.analysis.analyse`. Two values carry over between
evaluations in the stored record, so that the tests stay valid:

- ``look``: group-sequential looks already taken (a look is acted on once), and
  ``boundaries``: the boundary recursion as of that look, so that the next look
  costs one step of it even in a worker that has just started;
- ``tuning_units``: N* for the always-valid tests when no horizon is planned,
  fixed the first time every arm has ``min_units_per_arm`` units, from the
  control's coefficient of variation and the experiment's minimum detectable
  effect (a power calculation), and never changed afterwards;
- ``state``: each arm's running minimum p-value and running interval
  intersections, and a group-sequential crossing (:mod:`gateway.worker.carried`),
  so that a result reported significant is never reported otherwise later.

CUPED (Deng, Xu, Kohavi & Walker, WSDM 2013) adjusts the primary metric when it is
purchase conversion or revenue per user, with each user's purchases (or revenue)
before their first exposure as the covariate (:mod:`gateway.worker.aggregates`).
Whether to adjust is decided with N*, before the test's first real look, and kept:
an always-valid test must not switch estimators midway. It is on when any user
brought pre-exposure activity by then (the covariate varies).

Sums that contradict each other (more converters than users, a sum of squares
below what its sum implies) are reported, not acted on: that record carries the
previous one's choices (look, N*, state, CUPED) unchanged to the next.

A treatment with no weight in the current phase (stopped by the decision loop, or
set to 0 by a person) takes no users and is not tested: the remaining arms are.
A decision to stop arms (:func:`stats.decision.decide`) is applied as a new phase
(:func:`gateway.control.changes.stop_arms`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from redis.asyncio import Redis

from gateway.catalogue.metrics import BY_NAME as METRICS_BY_NAME
from gateway.catalogue.metrics import METRICS, estimates, pair_stats
from gateway.catalogue.sums import InconsistentSums, check_sums
from gateway.config import Experiment, Variant
from gateway.control.actors import DECISION_LOOP
from gateway.control.changes import advance_ramp
from gateway.control.store import ConfigStore
from gateway.errors import Conflict
from gateway.evaluations import store_evaluation
from gateway.keys import Keys
from gateway.ops.guardrails import OpsLimits, parse_ops, review
from gateway.records import (
    ArmOpsRecord,
    ArmResult,
    DecisionRecord,
    Estimate,
    EvaluationRecord,
    GuardrailResult,
    RecordError,
)
from gateway.segment_report import segment_results
from gateway.variant_stats import SegmentSums, read_stats_and_segments
from gateway.worker.bandit import run_bandit
from gateway.worker.carried import (
    boundaries_from_json,
    boundaries_to_json,
    state_from_json,
    state_to_json,
)
from gateway.worker.conclusion import apply_arm_stops, apply_conclusion, held_for_approval
from gateway.worker.interleaving import confirmation, evaluate_interleaved
from gateway.worker.quality import event_health, pre_exposure_bias
from gateway.worker.report import funnel, metric_results, time_to_decision
from stats.analysis import AnalysisPlan, ArmData, Method, analyse
from stats.decision import ArmAnalysis, PolicySettings
from stats.effects import (
    ArmEstimate,
    cuped_estimates,
    pooled_estimate,
)
from stats.inference import Inference
from stats.planning import risk_aware_power, units_per_arm
from stats.srm import srm_check

log = logging.getLogger("abgate.worker")
# The success test's planned power before the guardrails' share (stats.planning.risk_aware_power)
POWER: Final = 0.8


def arm_metrics(row: Mapping[str, int]) -> dict[str, ArmEstimate]:
    """Every metric's estimate for one arm from its integer sums (gateway.catalogue.metrics)."""
    return estimates(row)


def cuped_primary(
    metric: str, rows: Sequence[Mapping[str, int]]
) -> tuple[list[ArmEstimate], float] | None:
    """CUPED-adjusted estimates of ``metric`` per arm and the variance reduction, or None when
    the metric has no covariate or the covariate does not vary yet."""
    m = METRICS_BY_NAME.get(metric)
    if m is None or m.covariate is None:
        return None
    covariate, scale = m.covariate, m.scale
    pairs = [pair_stats(r, m.x, covariate) for r in rows]
    if sum(p.m2_y for p in pairs) <= 0 or any(p.n < 2 for p in pairs):
        return None
    adjusted = [
        ArmEstimate(e.n, e.mean / scale, e.variance / scale**2) for e in cuped_estimates(pairs)
    ]
    plain = sum(p.x.variance / p.n for p in pairs) / scale**2
    reduction = 1 - sum(a.variance for a in adjusted) / plain if plain > 0 else 0.0
    return adjusted, reduction


def planned_tuning(experiment: Experiment, arms: Sequence[ArmEstimate]) -> float | None:
    """N* (total units) from a power calculation, once the control has enough units.

    The coefficient of variation comes from the control; where the control has
    none (a mean of 0, or every unit alike), from all arms pooled. None while
    no arm varies at all: there is nothing to plan a test of yet.
    """
    analysis = experiment.analysis
    if analysis.horizon_units_per_arm:
        return 2.0 * analysis.horizon_units_per_arm
    control = arms[0]
    if control.n < analysis.min_units_per_arm:
        return None
    for estimate in (control, pooled_estimate(arms)):
        if estimate.n >= 2 and estimate.mean != 0 and math.isfinite(estimate.variance):
            cv2 = estimate.variance * estimate.n / estimate.mean**2
            if cv2 > 0:
                power = risk_aware_power(POWER, len(analysis.guardrails))
                return 2.0 * units_per_arm(cv2, analysis.mde, analysis.alpha, power)
    return None


def plan_for(experiment: Experiment, tuning_units: float) -> AnalysisPlan:
    a = experiment.analysis
    method: Method
    if a.method == "auto":
        method = "group-sequential" if a.horizon_units_per_arm else "confidence-sequence"
    else:
        method = a.method
    return AnalysisPlan(
        primary_metric=a.primary_metric,
        alpha=a.alpha,
        method=method,
        tuning_units=tuning_units,
        correction=a.correction,
        guardrails=tuple((g.metric, g.margin) for g in a.guardrails),
        horizon_units_per_arm=a.horizon_units_per_arm,
        looks=a.looks,
        directions={m.name: 1 if m.direction == "higher" else -1 for m in METRICS},
        deterioration=deterioration_metrics(experiment),
    )


def deterioration_metrics(experiment: Experiment) -> tuple[str, ...]:
    """Every catalogue metric but the success metric and the guardrails (those have tests of
    their own), when the experiment tests for deterioration."""
    a = experiment.analysis
    if not a.deterioration:
        return ()
    guarded = {a.primary_metric, *(g.metric for g in a.guardrails)}
    return tuple(m.name for m in METRICS if m.name not in guarded)


def _estimate(i: Inference) -> Estimate:
    return Estimate(
        i.estimate,
        i.ci_low if math.isfinite(i.ci_low) else None,
        i.ci_high if math.isfinite(i.ci_high) else None,
        i.p_value,
    )


def _arm(a: ArmAnalysis) -> ArmResult:
    return ArmResult(
        variant=a.variant,
        units=a.units,
        relative=a.relative,
        effect=_estimate(a.primary),
        p_adjusted=a.p_adjusted,
        p_boundary=a.p_boundary,
        significant=a.significant,
        guardrails=tuple(
            GuardrailResult(g.metric, g.margin, g.breached, _estimate(g.inference))
            for g in a.guardrails
        ),
    )


def _continue(
    *reasons: str, blocked_by: tuple[str, ...] = (), rule: str | None = None
) -> DecisionRecord:
    return DecisionRecord("continue", None, tuple(reasons), blocked_by, rule=rule)


def tested_variants(experiment: Experiment) -> list[Variant]:
    """The control and every treatment that has weight in the current phase."""
    control, *treatments = experiment.variants
    return [control, *(v for v in treatments if v.weight > 0)]


def evaluate(
    experiment: Experiment,
    stats: Mapping[str, Mapping[str, int]],
    runtime_s: float,
    previous: EvaluationRecord | None = None,
    segments: SegmentSums | None = None,
) -> EvaluationRecord:
    """Pure: the evaluation record for one experiment (results, SRM, decision, carried state),
    with its segments' results and its alerts (:func:`with_alerts`)."""
    record = _evaluate(experiment, stats, runtime_s, previous)
    return with_alerts(experiment, record, stats, segments or {})


def with_alerts(
    experiment: Experiment,
    record: EvaluationRecord,
    stats: Mapping[str, Mapping[str, int]],
    segments: SegmentSums,
) -> EvaluationRecord:
    """The record with its segments (the success metric in each), the differential-impact,
    segment SRM, pre-exposure and event-health alerts, and their reasons: every alert is named
    in the decision's reasons; only an event-health alert holds a promotion back."""
    if record.metrics == ():  # inconsistent sums: nothing to break down
        return record
    a = experiment.analysis
    tested = tested_variants(experiment)
    names = [v.name for v in tested]
    results, alerts = segment_results(
        [(v.name, v.weight) for v in tested],
        stats,
        segments,
        a.primary_metric,
        a.alpha,
        record.tuning_units,
        a.min_units_per_arm,
    )
    alerts = (*alerts, *pre_exposure_bias(names, stats), *event_health(names, stats))
    decision = record.decision
    reasons = tuple(f"{x.kind.replace('_', ' ')} alert ({x.level}): {x.message}" for x in alerts)
    blocking = [x for x in alerts if x.blocks]
    if decision.action == "promote" and blocking:
        decision = DecisionRecord(
            "continue",
            None,
            (*decision.reasons, *reasons, "not promoted while an arm's events are unhealthy"),
            (*decision.blocked_by, "event_health"),
            rule="event_health",
        )
    elif reasons:
        decision = replace(decision, reasons=(*decision.reasons, *reasons))
    return replace(record, segments=results, alerts=alerts, decision=decision)


def _evaluate(
    experiment: Experiment,
    stats: Mapping[str, Mapping[str, int]],
    runtime_s: float,
    previous: EvaluationRecord | None = None,
) -> EvaluationRecord:
    empty: dict[str, int] = {}
    base = EvaluationRecord(
        experiment=experiment.key,
        phase=experiment.phase,
        ts=time.time(),
        metric=experiment.analysis.primary_metric,
        alpha=experiment.analysis.alpha,
        runtime_s=runtime_s,
        decision=_continue(),
        look=previous.look if previous else 0,
        tuning_units=previous.tuning_units if previous else None,
        state=previous.state if previous else {},
        cuped=previous.cuped if previous else False,
        boundaries=previous.boundaries if previous else None,
    )
    variants = tested_variants(experiment)
    try:
        for v in experiment.variants:
            check_sums(v.name, stats.get(v.name, empty))
    except InconsistentSums as exc:  # what was chosen so far stands, CUPED included
        return replace(
            base,
            units={v.name: int(stats.get(v.name, empty).get("users", 0)) for v in variants},
            decision=_continue(f"statistics are inconsistent ({exc}); not acting on them"),
        )
    rows = [stats.get(v.name, empty) for v in variants]
    arms = [
        ArmData(v.name, v.weight, arm_metrics(row)) for v, row in zip(variants, rows, strict=True)
    ]
    analysis = experiment.analysis
    # CUPED: decided once, with N*; before that, whenever the covariate varies.
    decided = base.tuning_units is not None
    wanted = base.cuped if decided else analysis.cuped
    adjusted = (
        cuped_primary(analysis.primary_metric, [stats.get(v.name, empty) for v in variants])
        if wanted
        else None
    )
    if adjusted is not None:
        arms = [
            replace(a, metrics={**a.metrics, analysis.primary_metric: e})
            for a, e in zip(arms, adjusted[0], strict=True)
        ]
        base = replace(base, cuped=True, variance_reduction=adjusted[1])
    elif decided and wanted:  # chosen with N* but not computable now (cannot happen for
        # sums that only grow); say so rather than switch estimators silently
        return replace(base, decision=_continue("CUPED was chosen but its covariate is gone"))
    else:
        base = replace(base, cuped=False)
    primary = [a.metrics[analysis.primary_metric] for a in arms]
    base = replace(
        base,
        units={a.variant: m.n for a, m in zip(arms, primary, strict=True)},
        means={a.variant: m.mean for a, m in zip(arms, primary, strict=True)},
    )
    tuning = base.tuning_units or planned_tuning(experiment, primary)
    if tuning is None:
        srm = srm_check([m.n for m in primary], [a.weight for a in arms])
        blocked = []
        if primary[0].n < analysis.min_units_per_arm:
            reason = f"fewer than {analysis.min_units_per_arm} units in {experiment.control.name}"
            blocked.append("min_units")
        elif all(m.n >= 2 and m.variance == 0 and m.mean == primary[0].mean for m in primary):
            reason = (
                f"no variation in {analysis.primary_metric} yet (every unit in every arm has "
                f"the value {primary[0].mean:g}): nothing to test"
            )
        else:
            reason = "too few units with varying values to plan the sample size yet"
        reasons = [reason]
        if srm.mismatch:
            reasons.append(f"sample ratio mismatch (p={srm.p_value:.2g})")
            blocked.append("srm")
        return replace(
            base,
            srm_p_value=srm.p_value,
            decision=_continue(
                *reasons, blocked_by=tuple(blocked), rule="srm" if srm.mismatch else "min_units"
            ),
            metrics=metric_results(experiment, arms, rows),
            time_to_decision=time_to_decision(experiment, arms, None, runtime_s),
            funnel=funnel(arms, rows, analysis.alpha, None),
        )
    plan = plan_for(experiment, tuning)
    settings = PolicySettings(
        analysis.alpha,
        analysis.min_units_per_arm,
        analysis.min_runtime_s,
        analysis.max_runtime_s,
    )
    result = analyse(
        arms,
        plan,
        settings,
        runtime_s,
        base.look,
        state_from_json(base.state),
        boundaries_from_json(base.boundaries),
    )
    return replace(
        base,
        method=plan.method,
        look=result.look,
        tuning_units=tuning,
        arms=tuple(_arm(a) for a in result.arms),
        srm_p_value=result.srm.p_value,
        decision=DecisionRecord(
            result.decision.action,
            result.decision.winner,
            tuple(result.decision.reasons),
            tuple(result.decision.blocked_by),
            result.decision.stopped,
            result.decision.rule,
        ),
        state=state_to_json(result.state),
        metrics=metric_results(experiment, arms, rows, result.arms),
        time_to_decision=time_to_decision(experiment, arms, plan, runtime_s),
        funnel=funnel(arms, rows, analysis.alpha, tuning),
        boundaries=boundaries_to_json(result.boundaries),
    )


async def _previous(redis: Redis, keys: Keys, key: str) -> EvaluationRecord | None:
    raw = await redis.hget(keys.decisions, key)
    if not raw:
        return None
    try:
        return EvaluationRecord.from_json(raw)
    except RecordError as exc:  # written by another version: start the carried state afresh
        log.warning("stored evaluation of %s unreadable (%s); starting afresh", key, exc)
        return None


async def _operational_review(
    redis: Redis, keys: Keys, experiment: Experiment
) -> tuple[tuple[ArmOpsRecord, ...], list[str]]:
    """Each arm's operational figures and the treatments' breaches, in words."""
    raw: Any = await redis.hgetall(keys.ops(experiment.stats_id))
    ops = parse_ops({(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()})
    a = experiment.analysis
    limits = OpsLimits(a.max_error_rate, a.max_latency_ratio, a.min_ops_requests, a.alpha)
    treatments = [v.name for v in experiment.variants[1:]]
    # Off the event loop: the latency test searches each treatment's interval.
    return await asyncio.to_thread(review, experiment.control.name, treatments, ops, limits)


def runtime_s(experiment: Experiment, started: float, now: float) -> float:
    """How long it has run since ``started``, a reading of its active clock (wall time less
    the time spent paused, :meth:`Experiment.active_clock`): pauses are not runtime."""
    return max(0.0, experiment.active_clock(now) - started)


def ramp_held_s(experiment: Experiment, started: float, now: float) -> float:
    """How long its ramp step has been held: from the step's start, which each resume moves
    on by the pause (:func:`gateway.control.changes.resume`); from ``started`` when a file
    gave no step start."""
    if experiment.ramp_step_started_at:
        return now - experiment.ramp_step_started_at
    return runtime_s(experiment, started, now)


async def evaluate_all(redis: Redis, keys: Keys, store: ConfigStore) -> list[EvaluationRecord]:
    """One evaluation pass over every running experiment; applies its decisions. A paused one
    is left as it is: no evaluation, no decision, no clock (:func:`runtime_s`)."""
    _, config = await store.load()
    records = []
    now = time.time()
    for experiment in config.running:
        # keys.started holds the active clock's reading when the worker first saw the phase.
        clock = experiment.active_clock(now)
        if experiment.bandit is not None:  # every period, from the first one's start
            await redis.hsetnx(keys.started, experiment.key, repr(clock))
            started = float(await redis.hget(keys.started, experiment.key) or clock)
            figures, breached = await _operational_review(redis, keys, experiment)
            records.append(
                await run_bandit(redis, keys, store, experiment, started, now, breached, figures)
            )
            continue
        # The current phase alone: its own sums, start, carried state and SRM weights.
        sid = experiment.stats_id
        await redis.hsetnx(keys.started, sid, repr(clock))
        started = float(await redis.hget(keys.started, sid) or clock)
        runtime, previous = runtime_s(experiment, started, now), await _previous(redis, keys, sid)
        if experiment.interleaved:
            record = await evaluate_interleaved(redis, keys, experiment, runtime, previous)
        else:
            # Off the event loop: a group-sequential look takes a step of the boundary recursion.
            stats, segments = await read_stats_and_segments(redis, keys, sid)
            record = await asyncio.to_thread(
                evaluate, experiment, stats, runtime, previous, segments
            )
        figures, breached = await _operational_review(redis, keys, experiment)
        record = replace(record, ops=figures)
        if breached:
            record = record.rolled_back(experiment.control.name, breached)
        record = await held_for_approval(store, experiment, record)  # the approval policy
        await store_evaluation(redis, keys, sid, experiment.key, record)
        record, promotion = confirmation(experiment, record, now)
        record, concluded = await apply_conclusion(store, experiment, record, promotion)
        if not concluded and record.decision.action == "stop-arms":
            record = await apply_arm_stops(store, experiment, record, now)
        elif not concluded and experiment.ramp:
            await _advance_ramp(store, experiment, record, started, now)
        records.append(record)
    return records


async def _advance_ramp(
    store: ConfigStore,
    experiment: Experiment,
    record: EvaluationRecord,
    started: float,
    now: float,
) -> None:
    """Move a canary schedule to its next step once the step's hold has passed and every
    guardrail holds (operational ones included: a breach would have rolled it back)."""
    step = experiment.ramp_step
    if step + 1 >= len(experiment.ramp):
        return
    hold = experiment.ramp[step].hold_s or 0.0
    held = ramp_held_s(experiment, started, now)
    breached = any(g.breached for arm in record.arms for g in arm.guardrails)
    if held < hold or breached or "srm" in record.decision.blocked_by:
        return
    nxt = experiment.ramp[step + 1]
    reason = (
        f"ramp step {step + 2} of {len(experiment.ramp)}: coverage "
        f"{experiment.ramp[step].coverage:g} -> {nxt.coverage:g} (held {held:.0f} s of "
        f"{hold:g} s; guardrails hold)"
    )
    try:
        await store.change(
            lambda config: advance_ramp(config, experiment.key, step, now),
            actor=DECISION_LOOP,
            reason=reason,
        )
    except Conflict as exc:
        log.info("ramp of %s not advanced: %s", experiment.key, exc)
        return
    log.info("experiment %s: %s", experiment.key, reason)
