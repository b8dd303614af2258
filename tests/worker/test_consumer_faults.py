"""The consumer after a crash, under orphans and poison: real Redis, an injected clock."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.aggregates import MAX_SUM, USER_REVENUE_CAP_CENTS, EventCaps
from gateway.worker.consumer import GROUP, StreamConsumer
from gateway.worker.retry_schedule import RetrySchedule
from tests.worker.entries import exposure, outcome


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _evalsha_calls(redis: Redis) -> int:
    info: dict[str, Any] = await redis.info("commandstats")
    return int(info.get("cmdstat_evalsha", {}).get("calls", 0))


async def _pending(redis: Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP))["pending"])


async def test_a_restart_re_reads_the_whole_pending_list_past_held_entries(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    crashed = StreamConsumer(redis, keys, "w1")
    await crashed.setup()
    pipe = redis.pipeline(transaction=False)
    for i in range(1500):  # orphans first: their exposures never come
        pipe.xadd(keys.shard(0).outcomes, outcome(f"o{i}", f"lost{i}"))
    for i in range(2500):
        pipe.xadd(keys.shard(0).exposures, exposure(f"s{i}", f"user{i}"))
        pipe.xadd(keys.shard(0).outcomes, outcome(f"c{i}", f"s{i}", user=f"user{i}"))
    await pipe.execute()
    # Read everything, then "crash" before applying any of it.
    await redis.xreadgroup(
        GROUP, "w1", {keys.shard(0).exposures: ">", keys.shard(0).outcomes: ">"}, count=100_000
    )
    assert await _pending(redis, keys.shard(0).outcomes) == 4000

    restarted = StreamConsumer(redis, keys, "w1", clock=Clock())
    await restarted.setup()
    await restarted.drain_pending()
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert stats["users"] == 2500 and stats["clicks"] == 2500
    assert restarted.stats.deferred == 1500 and len(restarted.schedule) == 1500
    assert await _pending(redis, keys.shard(0).outcomes) == 1500  # only the held orphans
    assert await _pending(redis, keys.shard(0).exposures) == 0


async def test_held_outcomes_back_off_and_are_given_up_after_the_bound(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    clock = Clock()
    consumer = StreamConsumer(redis, keys, "w1", clock=clock)
    await consumer.setup()
    pipe = redis.pipeline(transaction=False)
    for i in range(500):
        pipe.xadd(keys.shard(0).outcomes, outcome(f"o{i}", f"lost{i}"))
    await pipe.execute()
    await consumer.step(block_ms=1)
    assert consumer.stats.deferred == 500
    before = await _evalsha_calls(redis)
    for _ in range(100):  # one second of steps, 10 ms apart
        clock.now += 0.01
        await consumer.step(block_ms=1)
    calls = await _evalsha_calls(redis) - before
    # Tried at 0.25 s and 0.75 s (backoff doubling), not at each of the 100 steps.
    assert consumer.stats.retries == 1000 and calls == 1000
    clock.now += 31.0
    for _ in range(10):
        await consumer.step(block_ms=1)
    assert consumer.stats.orphaned == 500 and len(consumer.schedule) == 0
    assert await _pending(redis, keys.shard(0).outcomes) == 0


async def test_an_exposure_wakes_its_held_outcome_at_once(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    clock = Clock()
    consumer = StreamConsumer(redis, keys, "w1", clock=clock)
    await consumer.setup()
    await redis.xadd(keys.shard(0).outcomes, outcome("c1", "s1", user="alice"))
    await consumer.step(block_ms=1)
    assert len(consumer.schedule) == 1
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "alice"))
    await consumer.step(block_ms=1)  # the clock has not moved: no backoff to wait out
    assert (await read_variant_stats(redis, keys, "x"))["a"]["clicks"] == 1
    assert len(consumer.schedule) == 0 and await _pending(redis, keys.shard(0).outcomes) == 0


async def test_a_held_click_is_applied_after_a_redis_error_on_its_retry(
    redis: Redis, prefix: str
) -> None:
    """A held click's retry fails (Redis goes away mid-call): the worker recovers as its loop
    does (setup, re-read of the pending list) and the click is still tried, and applied once
    its exposure comes. It was stranded: taken off the schedule before the call, skipped by
    the re-read because still held, and never scheduled again."""
    keys = Keys(prefix)
    clock = Clock()
    consumer = StreamConsumer(redis, keys, "w1", clock=clock)
    await consumer.setup()
    await redis.xadd(keys.shard(0).outcomes, outcome("c1", "s1", user="alice"))
    await consumer.step(block_ms=1)
    assert len(consumer.schedule) == 1
    run = consumer._run
    failures: list[int] = []

    async def fails_once(script: str, argvs: Any) -> list[Any]:
        if argvs and not failures:
            failures.append(len(argvs))
            raise ConnectionError("injected: connection lost during the call")
        return await run(script, argvs)

    consumer._run = fails_once  # type: ignore[method-assign]
    clock.now += 1.0  # the click's retry is due
    with pytest.raises(ConnectionError):
        await consumer.step(block_ms=1)
    assert failures == [1]
    await consumer.setup()  # what the worker's loop does after a Redis error
    await consumer.drain_pending()
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "alice"))
    for _ in range(5):
        clock.now += 1.0
        await consumer.step(block_ms=1)
    assert (await read_variant_stats(redis, keys, "x"))["a"]["clicks"] == 1
    assert len(consumer.schedule) == 0 and await _pending(redis, keys.shard(0).outcomes) == 0


async def test_the_retry_schedule_is_bounded(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(
        redis, keys, "w1", schedule=RetrySchedule(capacity=100), clock=Clock()
    )
    await consumer.setup()
    pipe = redis.pipeline(transaction=False)
    for i in range(300):
        pipe.xadd(keys.shard(0).outcomes, outcome(f"o{i}", f"lost{i}"))
    await pipe.execute()
    for _ in range(3):
        await consumer.step(block_ms=1)
    assert len(consumer.schedule) == 300  # one read of up to 1000 filled it past the bound ...
    await redis.xadd(keys.shard(0).outcomes, outcome("late", "lost-late"))
    await consumer.step(block_ms=1)
    assert len(consumer.schedule) == 300  # ... and no new outcome is read while it is full
    assert await _pending(redis, keys.shard(0).outcomes) == 300  # "late" is not even delivered yet
    assert await redis.xlen(keys.shard(0).outcomes) == 301


async def test_one_poisoned_entry_holds_back_nothing_and_changes_nothing(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "w1", clock=Clock())
    await consumer.setup()
    for i in range(10):
        await redis.xadd(keys.shard(0).exposures, exposure(f"s{i}", f"user{i}"))
    await consumer.step(block_ms=1)
    pipe = redis.pipeline(transaction=False)
    for i in range(10):
        value = 3_200_000.0 if i == 4 else 10.0 * (i + 1)  # past any purchase the API accepts
        pipe.xadd(
            keys.shard(0).outcomes, outcome(f"p{i}", f"s{i}", "purchase", value, user=f"user{i}")
        )
    pipe.xadd(keys.shard(0).outcomes, {"e": b"{not json"})
    pipe.xadd(keys.shard(0).outcomes, {"e": orjson.dumps({"event_id": "no-search"})})
    await pipe.execute()
    await consumer.step(block_ms=1)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    cents = [1000 * (i + 1) for i in range(10) if i != 4]
    assert stats["converters"] == 9
    assert stats["revenue_cents"] == sum(cents)
    assert stats["revenue_cents_sq"] == sum(c * c for c in cents)
    assert await redis.exists(keys.shard(0).seen("s4", "p4")) == 0  # refused before its first write
    assert consumer.stats.dead == 3
    dead: Any = await redis.xrange(keys.dead_letters)
    reasons = sorted(fields[b"error"].decode() for _, fields in dead)
    assert reasons[0] == "invalid event"
    assert any("malformed JSON" in r for r in reasons)
    assert any("missing or malformed field" in r for r in reasons)
    assert await _pending(redis, keys.shard(0).outcomes) == 0


async def test_revenue_stays_exact_and_a_sum_never_overflows(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    # Caps out of the way: one user's purchases past any sum's exact range is what is tested.
    caps = EventCaps(per_search=1000, purchases_per_day=1000)
    consumer = StreamConsumer(redis, keys, "w1", clock=Clock(), caps=caps)
    await consumer.setup()
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "whale"))
    await consumer.step(block_ms=1)
    # Ten purchases of 99 999.99: the user's total passes the winsorising cap.
    for i in range(10):
        await redis.xadd(
            keys.shard(0).outcomes, outcome(f"w{i}", "s1", "purchase", 99_999.99, user="whale")
        )
    await consumer.step(block_ms=1)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert stats["revenue_cents"] == USER_REVENUE_CAP_CENTS
    assert stats["revenue_cents_sq"] == USER_REVENUE_CAP_CENTS**2
    raw: Any = await redis.hget(keys.shard(0).unit("x", "whale"), "revenue_cents")
    assert int(raw) == 9_999_999 * 10
    # A variant whose sum of squares is near the 64-bit limit refuses the next purchase whole.
    await redis.xadd(keys.shard(0).exposures, exposure("s2", "next"))
    await consumer.step(block_ms=1)
    await redis.hset(keys.shard(0).stats("x"), "a:revenue_cents_sq", MAX_SUM - 10)
    await redis.xadd(keys.shard(0).outcomes, outcome("big", "s2", "purchase", 500.0, user="next"))
    await consumer.step(block_ms=1)
    after = (await read_variant_stats(redis, keys, "x"))["a"]
    assert after["converters"] == stats["converters"]
    assert after["revenue_cents_sq"] == MAX_SUM - 10
    assert consumer.stats.dead == 1


async def test_scripts_are_reloaded_after_redis_loses_them(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "w1", clock=Clock())
    await consumer.setup()
    await redis.script_flush()
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "alice"))
    await consumer.step(block_ms=1)
    assert (await read_variant_stats(redis, keys, "x"))["a"]["users"] == 1
    assert consumer.stats.dead == 0
