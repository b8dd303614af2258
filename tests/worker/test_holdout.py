"""The holdout's report from its arms' sums: each metric by the worker's own estimators, the
rest's lift over the holdout with its always-valid interval, the production moves since."""

from __future__ import annotations

import math
import time

import msgspec
from redis.asyncio import Redis

from gateway.config import RoutingConfig
from gateway.config.holdout import Holdout
from gateway.control.holdout import begin_holdout
from gateway.control.store import ConfigStore
from gateway.holdout_report import HoldoutReport, read_report
from gateway.keys import Keys
from gateway.worker.consumer import StreamConsumer
from gateway.worker.evaluate import arm_metrics
from gateway.worker.holdout import expire_ended, holdout_report, promotions_since, report_holdout
from tests.worker.entries import exposure

T0 = 1_765_000_000.0  # 2025-12-06
HOLDOUT = Holdout("old-v0", 0.05, T0)


def _row(users: int, converters: int) -> dict[str, int]:
    return {"users": users, "converters": converters}


HISTORY = [  # newest first, as GET /v1/production gives it
    {
        "from": "mid-v1",
        "to": "new-v2",
        "actor": "decision-loop",
        "reason": "won",
        "experiment": "ranker-v2",
        "ts": T0 + 200,
    },
    {"from": "old-v0", "to": "mid-v1", "actor": "carol", "reason": "by hand", "ts": T0 + 100},
    {"from": "x", "to": "old-v0", "actor": "carol", "reason": "before it", "ts": T0 - 1},
]


def test_each_metric_is_the_workers_estimate_and_the_lift_is_rest_over_holdout() -> None:
    stats = {"holdout": _row(1000, 100), "rest": _row(19000, 2850)}
    report = holdout_report(HOLDOUT, stats, HISTORY, "new-v2", T0 + 300)
    conversion = next(m for m in report.metrics if m.metric == "purchase_conversion")
    expected = {a: arm_metrics(stats[a])["purchase_conversion"] for a in ("holdout", "rest")}
    for arm in conversion.arms:
        assert arm.value == expected[arm.variant].mean and arm.n == expected[arm.variant].n
        assert arm.std_error == math.sqrt(expected[arm.variant].variance)
    lift = conversion.lift
    assert lift.scale == "relative" and math.isclose(lift.lift or 0, 0.5)
    assert lift.ci_low is not None and lift.ci_high is not None
    assert lift.ci_low < 0.5 < lift.ci_high and lift.significant and lift.p_value < 0.05
    assert {m.metric for m in report.metrics} == set(arm_metrics(stats["rest"]))
    assert (conversion.label, conversion.direction, conversion.unit, conversion.per) == (
        "purchase conversion",
        "higher",
        "share",
        "user",
    )
    abandonment = next(m for m in report.metrics if m.metric == "abandonment_rate")
    assert abandonment.direction == "lower"
    assert report.users == {"holdout": 1000, "rest": 19000}
    assert report.summary.startswith(
        "cumulative lift of 2 promotions since 2025-12-06: purchase_conversion +50.0 % ["
    )
    # The stored form decodes with the type GET /v1/holdout documents.
    assert msgspec.json.decode(msgspec.json.encode(report), type=HoldoutReport) == report


def test_no_users_yet_reports_nothing_measured() -> None:
    report = holdout_report(HOLDOUT, {}, [], "old-v0", T0 + 1)
    conversion = next(m for m in report.metrics if m.metric == "purchase_conversion")
    assert conversion.lift.lift is None and conversion.lift.significant is False
    assert "not measured yet" in report.summary and report.promotions == []


def test_promotions_are_the_moves_within_the_holdout_oldest_first() -> None:
    moves = promotions_since(HOLDOUT, HISTORY)
    assert [(p.from_, p.to) for p in moves] == [("old-v0", "mid-v1"), ("mid-v1", "new-v2")]
    assert moves[1].experiment == "ranker-v2"
    ended = Holdout("old-v0", 0.05, T0, ended_at=T0 + 150)
    assert [p.to for p in promotions_since(ended, HISTORY)] == ["mid-v1"]
    assert b'"from":"old-v0"' in msgspec.json.encode(moves[0])


async def test_the_worker_reports_from_the_scripts_sums_and_expires_an_ended_holdout(
    redis: Redis, prefix: str
) -> None:
    """Real Redis, the real scripts: exposures tagged with the holdout's arms become its
    report's users; a holdout past its window is ended (audited, by the decision loop) and its
    per-user keys are given the grace to live, once."""
    keys = Keys(prefix, 2)
    store = ConfigStore(redis, keys)
    now = time.time()
    await store.seed(RoutingConfig(production="new-v2"), "test")
    await store.change(
        lambda c: begin_holdout(c, "old-v0", 0.1, now - 100, window_s=50.0), "carol", "begin"
    )
    _, config = await store.load()
    holdout = config.holdout
    assert holdout is not None
    consumers = [StreamConsumer(redis, keys, "c1", shard=n) for n in range(2)]
    for consumer in consumers:
        await consumer.setup()
    arms = {f"u{i}": "holdout" if i < 3 else "rest" for i in range(10)}
    for i, (user, arm) in enumerate(arms.items()):
        entry = exposure(f"s{i}", user, arm, holdout.stats_id, ts=now - 60)
        await redis.xadd(keys.for_user(user).exposures, entry)
    for consumer in consumers:
        await consumer.step(block_ms=None)

    report = await report_holdout(redis, keys, store, grace_s=3600)
    assert report is not None and report.users == {"holdout": 3, "rest": 7}
    assert await read_report(redis, keys, holdout.stats_id) == report
    _, config = await store.load()
    assert config.holdout is not None and config.holdout.ended_at == now - 50  # its planned end
    entry = (await store.audit_log(1))[0]
    assert entry["actor"] == "decision-loop" and "window is over" in entry["reason"]
    units = [k async for k in redis.scan_iter(match=f"{{{prefix}.*}}:unit:holdout~*")]
    assert len(units) == 10
    ttls = [await redis.ttl(k) for k in units]
    assert all(0 < ttl <= 3600 for ttl in ttls), ttls
    assert await expire_ended(redis, keys, holdout.stats_id, 3600) is None  # once
