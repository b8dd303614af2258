"""The worker benchmark's backlog is what gateways write, and its drain applies all of it
through the real consumer and scripts (figures are the benchmark's, not asserted here)."""

from __future__ import annotations

from redis.asyncio import Redis

from bench.worker import backlog, drain, fill
from gateway.keys import Keys
from gateway.records import ExposureRecord, OutcomeRecord
from gateway.redis_server import EmbeddedRedis
from gateway.variant_stats import read_variant_stats


async def test_the_backlog_drains_completely(redis_server: EmbeddedRedis, prefix: str) -> None:
    exposures, outcomes = backlog(300, seed=3)
    assert len(exposures) == 300 and len(outcomes) > 200
    assert ExposureRecord.from_json(exposures[0]).assignments[0].experiment == "bench"
    assert {OutcomeRecord.from_json(o).type for o in outcomes} == {
        "click", "add_to_cart", "purchase",
    }  # fmt: skip
    redis: Redis = Redis.from_url(redis_server.url)
    try:
        await fill(redis, Keys(prefix), exposures, outcomes)
        rate = await drain(redis_server.url, len(exposures) + len(outcomes), prefix)
        assert rate > 0
        stats = await read_variant_stats(redis, Keys(prefix), "bench")
        assert sum(row["searches"] for row in stats.values()) == 300
        clicks = sum(OutcomeRecord.from_json(o).type == "click" for o in outcomes)
        assert sum(row["clicks"] for row in stats.values()) == clicks
    finally:
        await redis.aclose()


async def test_the_labelled_backlog_keeps_segment_sums(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    """bench.worker's segment run: every exposure labelled, every sum kept per segment too."""
    from bench.worker import with_segments
    from gateway.variant_stats import read_segment_stats

    exposures, outcomes = backlog(200, seed=4)
    redis: Redis = Redis.from_url(redis_server.url)
    try:
        await fill(redis, Keys(prefix), with_segments(exposures), outcomes)
        assert await drain(redis_server.url, len(exposures) + len(outcomes), prefix) > 0
        segments = await read_segment_stats(redis, Keys(prefix), "bench")
        by_device = sum(
            sums["searches"]
            for arm in segments.values()
            for (dim, _), sums in arm.items()
            if dim == "device"
        )
        assert by_device == 200
        shoppers = {value for arm in segments.values() for dim, value in arm if dim == "shopper"}
        assert shoppers <= {"new", "returning"} and shoppers
    finally:
        await redis.aclose()
