"""The worker's join against real Redis: de-duplication, late exposures, per-variant statistics."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.consumer import StreamConsumer
from tests.worker.entries import exposure, outcome


async def test_join_dedup_and_late_exposure(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    # An outcome that arrives before its exposure is held, not lost.
    await redis.xadd(keys.outcomes, outcome("p1", "s1", "purchase", 10.0))
    await consumer.step(block_ms=10)
    assert consumer.stats.deferred == 1 and consumer.stats.outcomes == 0
    for sid, user, variant in [("s1", "alice", "a"), ("s2", "alice", "a"), ("s3", "bob", "b")]:
        await redis.xadd(keys.exposures, exposure(sid, user, variant))
    await redis.xadd(keys.exposures, exposure("s1", "alice", "a"))  # replayed duplicate
    await redis.xadd(keys.outcomes, outcome("p2", "s2", "purchase", 5.0))
    await redis.xadd(keys.outcomes, outcome("p2", "s2", "purchase", 5.0))  # duplicate
    await redis.xadd(keys.outcomes, outcome("c1", "s3", "click"))
    await consumer.step(block_ms=10)
    stats = await read_variant_stats(redis, keys, "x")
    assert stats["a"]["users"] == 1 and stats["a"]["searches"] == 2
    assert stats["a"]["converters"] == 1  # two purchases, one converting user
    # per-user sums in integer cents: (1000 + 500)^2 for alice's two purchases
    assert stats["a"]["revenue_cents"] == 1500 and stats["a"]["revenue_cents_sq"] == 1500**2
    assert stats["a"]["searches_sq"] == 2**2  # alice searched twice
    assert stats["b"]["users"] == 1 and stats["b"]["clicks"] == 1 and stats["b"]["converters"] == 0
    # bob: one search then one click, so clicks^2 = 1 and clicks x searches = 1 x 1
    assert stats["b"]["clicks_sq"] == 1 and stats["b"]["clicks_x_searches"] == 1
    assert consumer.stats.duplicates == 2
    pending = await redis.xpending(keys.outcomes, "abgate-workers")
    assert pending["pending"] == 0  # everything applied is acknowledged


async def test_unacknowledged_entries_are_reapplied_after_a_restart(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    first = StreamConsumer(redis, keys, "same-name")
    await first.setup()
    await redis.xadd(keys.exposures, exposure("s9", "carol", "a"))
    # Read but "crash" before applying: the entry stays pending for this consumer name.
    await redis.xreadgroup("abgate-workers", "same-name", {keys.exposures: ">"}, count=10)
    restarted = StreamConsumer(redis, keys, "same-name")
    await restarted.setup()
    await restarted.drain_pending()
    assert (await read_variant_stats(redis, keys, "x"))["a"]["users"] == 1
