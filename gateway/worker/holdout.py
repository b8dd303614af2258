"""The holdout's report, each worker pass: every metric in both arms and the rest's cumulative
lift over the frozen baseline, with the production moves since the holdout began.

The arms' sums are kept by the same scripts as an experiment phase's (the exposures carry the
holdout's stats id and arm), and each metric is estimated by the same code
(:func:`gateway.worker.evaluate.arm_metrics`). The lift's interval is a confidence sequence
(:func:`stats.confidence_sequence.confidence_sequence`, Waudby-Smith et al. 2024, Theorem 2.2)
at a fixed α and N*: valid at every look, so it can be read every day of a holdout that runs
for months. Nothing is decided from it: the report informs, it never changes the config. The
one change the worker makes is the end the holdout was set up with (``ends_at``), audited.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from redis.asyncio import Redis

from gateway.catalogue.metrics import BY_NAME as METRICS_BY_NAME
from gateway.config import RoutingConfig
from gateway.config.holdout import HOLDOUT_ARM, REST_ARM, Holdout
from gateway.control.actors import DECISION_LOOP
from gateway.control.holdout import end_holdout, window_over
from gateway.control.store import ConfigStore
from gateway.holdout_report import (
    HoldoutArmValue,
    HoldoutLift,
    HoldoutMetric,
    HoldoutReport,
    Promotion,
    store_report,
)
from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.evaluate import arm_metrics
from gateway.worker.retention import expire_matching, glob_literal
from stats import confidence_sequence as cs
from stats.effects import ArmEstimate, lift_effect

log = logging.getLogger("abgate.worker")

# The report's always-valid interval: α, and N* (total users) where it is tightest. A
# holdout runs long on a small share, so N* is larger than an experiment's default.
HOLDOUT_ALPHA: Final = 0.05
HOLDOUT_TUNING_UNITS: Final = 20_000
# The metric the one-line summary names.
SUMMARY_METRIC: Final = "purchase_conversion"
# How many production moves the report reads back (newest first).
HISTORY_COUNT: Final = 1000


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _arm(variant: Any, e: ArmEstimate) -> HoldoutArmValue:
    se = math.sqrt(e.variance) if e.n >= 2 and math.isfinite(e.variance) else None
    return HoldoutArmValue(variant, _finite(e.mean), e.n, se)


def _lift(holdout: ArmEstimate, rest: ArmEstimate) -> HoldoutLift:
    effect = lift_effect(holdout, rest)
    inference = cs.confidence_sequence(effect, HOLDOUT_ALPHA, HOLDOUT_TUNING_UNITS)
    return HoldoutLift(
        scale="relative" if effect.relative else "absolute",
        lift=_finite(effect.estimate),
        ci_low=_finite(inference.ci_low),
        ci_high=_finite(inference.ci_high),
        p_value=inference.p_value,
        significant=inference.rejects,
    )


def _described(name: str) -> dict[str, Any]:
    """The catalogue's words for a metric: label, direction, unit, per."""
    m = METRICS_BY_NAME.get(name)
    if m is None:
        return {"label": name.replace("_", " ")}
    return {"label": m.label, "direction": m.direction, "unit": m.unit, "per": m.per}


def promotions_since(holdout: Holdout, history: Sequence[Mapping[str, Any]]) -> list[Promotion]:
    """Production moves (newest-first ``history``) from the holdout's start to its end, oldest
    first."""
    end = math.inf if holdout.ended_at is None else holdout.ended_at
    moves = [
        Promotion(
            to=h.get("to"),
            ts=float(h.get("ts", 0.0)),
            actor=str(h.get("actor", "")),
            reason=str(h.get("reason", "")),
            experiment=h.get("experiment"),
            from_=h.get("from"),
        )
        for h in history
        if holdout.started_at <= float(h.get("ts", 0.0)) <= end and h.get("from") != h.get("to")
    ]
    return sorted(moves, key=lambda p: p.ts)


def holdout_report(
    holdout: Holdout,
    stats: Mapping[str, Mapping[str, int]],
    history: Sequence[Mapping[str, Any]],
    production: str | None,
    now: float,
) -> HoldoutReport:
    """Pure: the report of ``holdout`` from its arms' integer sums and production's history."""
    rows = {arm: stats.get(arm, {}) for arm in (HOLDOUT_ARM, REST_ARM)}
    estimates = {arm: arm_metrics(row) for arm, row in rows.items()}
    metrics = [
        HoldoutMetric(
            metric=name,
            arms=[_arm(arm, estimates[arm][name]) for arm in (HOLDOUT_ARM, REST_ARM)],
            lift=_lift(estimates[HOLDOUT_ARM][name], estimates[REST_ARM][name]),
            **_described(name),
        )
        for name in estimates[HOLDOUT_ARM]
    ]
    moves = promotions_since(holdout, history)
    return HoldoutReport(
        stats_id=holdout.stats_id,
        evaluated_at=now,
        since=holdout.started_at,
        version=holdout.version,
        current=production,
        users={arm: int(row.get("users", 0)) for arm, row in rows.items()},
        method=cs.METHOD,
        alpha=HOLDOUT_ALPHA,
        tuning_units=HOLDOUT_TUNING_UNITS,
        primary_metric=SUMMARY_METRIC,
        metrics=metrics,
        promotions=moves,
        summary=summary(holdout, metrics, len(moves)),
    )


def summary(holdout: Holdout, metrics: Sequence[HoldoutMetric], moves: int) -> str:
    """``cumulative lift of 2 promotions since 2026-12-07: purchase_conversion +12.3 %
    [+4.1 %, +20.5 %]`` (an absolute lift without the percent signs)."""
    since = time.strftime("%Y-%m-%d", time.gmtime(holdout.started_at))
    head = f"cumulative lift of {moves} promotion{'' if moves == 1 else 's'} since {since}"
    row = next((m for m in metrics if m.metric == SUMMARY_METRIC), None)
    if row is None or row.lift.lift is None:
        return f"{head}: {SUMMARY_METRIC} not measured yet"
    pct = row.lift.scale == "relative"

    def f(x: float | None) -> str:
        if x is None:
            return "?"
        return f"{x * 100:+.1f} %" if pct else f"{x:+.4g}"

    verdict = "significant" if row.lift.significant else "not significant yet"
    return (
        f"{head}: {SUMMARY_METRIC} {f(row.lift.lift)} [{f(row.lift.ci_low)}, "
        f"{f(row.lift.ci_high)}] ({verdict})"
    )


async def report_holdout(
    redis: Redis, keys: Keys, store: ConfigStore, grace_s: float
) -> HoldoutReport | None:
    """One pass: end the holdout if its window is over, then compute and keep its report (None
    without a holdout). An ended holdout's per-user keys are given ``grace_s`` to live, once
    (as a concluded experiment's: :func:`gateway.worker.retention.expire_concluded`)."""
    _, config = await store.load()
    now = time.time()
    if window_over(config, now):
        config = await _end(store, config, now)
    holdout = config.holdout
    if holdout is None:
        return None
    stats = await read_variant_stats(redis, keys, holdout.stats_id)
    history = await store.production_history(HISTORY_COUNT)
    report = holdout_report(holdout, stats, history, config.production, now)
    await store_report(redis, keys, report)
    if not holdout.active:
        await expire_ended(redis, keys, holdout.stats_id, grace_s)
    return report


async def expire_ended(redis: Redis, keys: Keys, stats_id: str, grace_s: float) -> int | None:
    """A time to live of ``grace_s`` on each of an ended holdout's per-user keys, once (its
    stats id is then remembered in ``keys.expired``); how many, or None if done before. Its
    sums and report stay."""
    if await redis.sismember(keys.expired, stats_id):
        return None
    ttl, count = max(1, int(grace_s)), 0
    for shard in keys.all_shards:
        pattern = glob_literal(shard.unit(stats_id, "")) + "*"  # "{tag}:unit:holdout~<t>:*"
        count += await expire_matching(redis, pattern, ttl)
    await redis.sadd(keys.expired, stats_id)
    log.info("holdout %s ended: %d per-user keys expire in %.0f s", stats_id, count, grace_s)
    return count


async def _end(store: ConfigStore, config: RoutingConfig, now: float) -> RoutingConfig:
    holdout = config.holdout
    assert holdout is not None and holdout.ends_at is not None
    ends_at = holdout.ends_at

    def compute(current: RoutingConfig) -> RoutingConfig:
        if current.holdout != holdout:
            return current  # replaced or ended meanwhile: nothing to do
        return end_holdout(current, ends_at)

    _, config, _ = await store.change(
        compute, actor=DECISION_LOOP, reason=f"holdout {holdout.stats_id}: its window is over"
    )
    log.info("holdout %s ended: its window is over", holdout.stats_id)
    return config
