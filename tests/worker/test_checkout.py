"""Purchases at checkout, against real Redis: a purchase without a search id counts for the
user's arm in each running experiment that exposed them within its attribution window, exactly
as a purchase on a search would; a retry counts once, the daily cap holds, and one that no
window covers is counted as unattributed, never dropped."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.config import RoutingConfig, parse_routing
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.aggregates import EventCaps
from gateway.worker.consumer import AttributionWindows, StreamConsumer
from tests.worker.conftest import Sharded
from tests.worker.entries import checkout, exposure, interleaved_exposure, item_outcome

T0 = 1.7e9
HOUR = 3600


def _experiment(key: str, low: float, high: float, **more: Any) -> dict[str, Any]:
    return {
        "key": key,
        "variants": [
            {"name": "a", "model_version": "m1", "weight": 0.5},
            {"name": "b", "model_version": "m2", "weight": 0.5},
        ],
        "namespace_range": [low, high],
        "attribution_window_s": HOUR,
    } | more


def _config(*experiments: dict[str, Any]) -> RoutingConfig:
    return parse_routing({"production": "m1", "experiments": list(experiments)})


X = _experiment("x", 0.0, 0.4)
Y = _experiment("y", 0.4, 0.8)


async def _settled(*consumers: StreamConsumer) -> None:
    """Step once more as if the checkout hold had passed: a purchase no window covers is held
    (its user's exposure may be a flush behind), then counted as unattributed."""
    for consumer in consumers:
        consumer.clock = lambda: time.monotonic() + 3600.0
        await consumer.step(block_ms=None)


async def _consumer(redis: Redis, keys: Keys, config: RoutingConfig, **more: Any) -> StreamConsumer:
    await ConfigStore(redis, keys).seed(config, "test")
    consumer = StreamConsumer(redis, keys, "c1", **more)
    await consumer.setup()
    return consumer


@pytest.mark.parametrize("sharded", [("single", 1), ("cluster", 5)], indirect=True)
async def test_a_checkout_purchase_counts_for_the_users_arm_within_the_window(
    sharded: Sharded,
) -> None:
    redis, keys = sharded.redis, sharded.keys
    concluded = _experiment("old", 0.8, 1.0, status="concluded", outcome="inconclusive")
    await ConfigStore(redis, keys).seed(_config(X, concluded), "test")

    async def send(fields: dict[Any, Any], user: str, stream: str = "outcomes") -> None:
        await redis.xadd(getattr(keys.for_user(user), stream), fields)

    await send(exposure("s1", "ann", "a", ts=T0), "ann", "exposures")
    await send(exposure("s2", "bob", "b", ts=T0), "bob", "exposures")
    await send(exposure("s3", "cy", "a", ts=T0 + 100), "cy", "exposures")
    await send(exposure("s4", "eve", "a", "old", ts=T0), "eve", "exposures")
    await send(checkout("p1", "ann", 12.34, T0 + 10), "ann")
    await send(checkout("p2", "ann", 5.0, T0 + HOUR), "ann")  # the window's last second
    await send(checkout("p1", "bob", 7.0, T0 + HOUR + 1), "bob")  # past the window
    await send(checkout("p1", "cy", 9.0, T0 + 50), "cy")  # before cy's first exposure
    await send(checkout("p1", "dan", 9.0, T0), "dan")  # in no experiment
    await send(checkout("p1", "eve", 9.0, T0 + 10), "eve")  # in a concluded experiment
    await sharded.step()
    assert sum(len(c.schedule) for c in sharded.consumers) == 4  # held, not yet given up
    await _settled(*sharded.consumers)
    stats = await read_variant_stats(redis, keys, "x")
    assert (stats["a"]["users"], stats["a"]["converters"], stats["a"]["revenue_cents"]) == (
        2,
        1,
        1734,
    )
    assert stats["a"]["revenue_cents_sq"] == 1734**2
    assert (stats["b"]["converters"], stats["b"]["revenue_cents"]) == (0, 0)
    old = await read_variant_stats(redis, keys, "old")
    assert old["a"]["users"] == 1 and old["a"]["revenue_cents"] == 0
    assert sum(c.stats.outcomes for c in sharded.consumers) == 2
    assert sum(c.stats.unattributed for c in sharded.consumers) == 4
    assert await redis.xlen(keys.dead_letters) == 0


async def test_a_checkout_purchase_adds_to_the_sums_exactly_as_one_on_a_search(
    redis: Redis, prefix: str
) -> None:
    """The same searches and purchases, with search ids in experiment x and at checkout in
    experiment y: every per-variant sum is the same."""
    keys = Keys(prefix)
    consumer = await _consumer(redis, keys, _config(X, Y))
    shard = keys.shard(0)
    for experiment, user in (("x", "ann"), ("y", "bob")):
        for n in range(2):
            fields = exposure(f"{user}-s{n}", user, "b", experiment, [11], ts=T0 + 60 * n)
            await redis.xadd(shard.exposures, fields)
    for n, value in enumerate((10.0, 3.5, 99999.99)):
        await redis.xadd(
            shard.outcomes, item_outcome(f"p{n}", f"ann-s{n % 2}", 11, "purchase", "ann", value)
        )
        await redis.xadd(shard.outcomes, checkout(f"p{n}", "bob", value, T0 + 120 + n))
    await consumer.step(block_ms=None)
    x = await read_variant_stats(redis, keys, "x")
    assert x["b"]["revenue_cents"] == 1000 + 350 + 9999999 and x["b"]["converters"] == 1
    assert x == await read_variant_stats(redis, keys, "y")
    assert consumer.stats.outcomes == 6


async def test_a_retried_checkout_purchase_counts_once_and_the_daily_cap_holds(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    caps = EventCaps(purchases_per_day=2)
    consumer = await _consumer(redis, keys, _config(X), caps=caps)
    shard = keys.shard(0)
    await redis.xadd(shard.exposures, exposure("s1", "ann", "a", ts=T0))
    for eid in ("p1", "p1", "p2"):
        await redis.xadd(shard.outcomes, checkout(eid, "ann", 10.0, T0 + 1))
    await consumer.step(block_ms=None)
    await redis.xadd(shard.outcomes, checkout("p1", "ann", 10.0, T0 + 1))  # retried later
    await redis.xadd(shard.outcomes, checkout("p3", "ann", 10.0, T0 + 2))  # past the cap
    await consumer.step(block_ms=None)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert (stats["revenue_cents"], stats["capped"]) == (2000, 1)
    assert (consumer.stats.outcomes, consumer.stats.duplicates, consumer.stats.capped) == (2, 2, 1)
    # the exposure index outlives the longest window by a day (renewed on each day's exposure)
    assert 90 * 86400 < await redis.ttl(shard.exposed("ann")) <= 91 * 86400


async def test_the_exposure_that_attributes_is_the_latest_phases_and_not_after_the_purchase(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    consumer = await _consumer(redis, keys, _config(X))
    shard = keys.shard(0)
    for fields in (
        exposure("s1", "ann", "a", ts=T0),  # ann: phase 0, then phase 1 (arm b)
        exposure("s2", "ann", "b", ts=T0 + 200, phase=1),
        exposure("s3", "bob", "a", ts=T0),  # bob searched again after buying (applied first)
        exposure("s4", "bob", "a", ts=T0 + 5 * HOUR),
        exposure("s5", "cy", "a", ts=T0 - 5 * HOUR),  # cy: no exposure known within the hour
        exposure("s6", "cy", "a", ts=T0 + 5 * HOUR),
        exposure("s7", "dan", "a", ts=T0, phase=1),  # dan: phase 1, then a late phase-0 one
        exposure("s8", "dan", "b", ts=T0 - 10),
    ):
        await redis.xadd(shard.exposures, fields)
    await consumer.step(block_ms=None)
    for fields in (
        checkout("p1", "ann", 1.0, T0 + 300),
        checkout("p1", "bob", 2.0, T0 + 100),
        checkout("p1", "cy", 4.0, T0),
        checkout("p1", "dan", 8.0, T0 + 10),
    ):
        await redis.xadd(shard.outcomes, fields)
    await consumer.step(block_ms=None)
    await _settled(consumer)
    phase0 = await read_variant_stats(redis, keys, "x")
    phase1 = await read_variant_stats(redis, keys, "x@1")
    assert phase0["a"]["revenue_cents"] == 200 and phase0["b"]["revenue_cents"] == 0
    assert phase1["b"]["revenue_cents"] == 100 and phase1["a"]["revenue_cents"] == 800
    assert consumer.stats.unattributed == 1


async def test_a_checkout_purchase_credits_no_interleaving_team(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    il = _experiment("il", 0.0, 1.0, kind="interleaving", interleaving={"credit": "purchase"})
    consumer = await _consumer(redis, keys, _config(il))
    shard = keys.shard(0)
    page = interleaved_exposure(
        "s1", "ann", [11, 12], [0, 1], [True, True], ts=T0, credit="purchase"
    )
    await redis.xadd(shard.exposures, page)
    await redis.xadd(shard.outcomes, checkout("p1", "ann", 5.0, T0 + 1, item=11))
    await consumer.step(block_ms=None)
    assert (await read_variant_stats(redis, keys, "il"))["interleaved"]["revenue_cents"] == 500
    counts: Any = await redis.hgetall(shard.interleaving("il"))
    assert not [k for k in counts if k.startswith(b"team:")], counts


async def test_the_windows_follow_the_routing_config(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    windows = AttributionWindows(store)
    assert await windows.current() == ""  # no config yet: no window
    await store.seed(_config(X, Y | {"attribution_window_s": 7 * 86400}), "test")
    assert await windows.current() == "x=3600,y=604800"

    def shorter(config: RoutingConfig) -> RoutingConfig:
        x = config.experiment("x")
        return config.with_experiment(
            replace(x, analysis=replace(x.analysis, attribution_window_s=60.0))
        )

    await store.change(shorter, "test", "a minute")
    assert await windows.current() == "x=60,y=604800"


async def test_a_checkout_purchase_read_before_its_buyers_exposure_waits_for_it(
    redis: Redis, prefix: str
) -> None:
    """The purchase reaches the worker before the search's exposure (another gateway flushed
    later): it is held, not counted as unattributed, and counted for the arm once the exposure
    is applied."""
    keys = Keys(prefix)
    consumer = await _consumer(redis, keys, _config(X))
    shard = keys.shard(0)
    await redis.xadd(shard.outcomes, checkout("p1", "ann", 3.0, T0 + 5))
    await consumer.step(block_ms=None)
    assert len(consumer.schedule) == 1 and consumer.stats.unattributed == 0
    await redis.xadd(shard.exposures, exposure("s1", "ann", "b", ts=T0))
    await consumer.step(block_ms=None)
    consumer.clock = lambda: time.monotonic() + 1.0  # its next try is due
    await consumer.step(block_ms=None)
    assert (await read_variant_stats(redis, keys, "x"))["b"]["revenue_cents"] == 300
    assert len(consumer.schedule) == 0 and consumer.stats.unattributed == 0
    assert consumer.stats.outcomes == 1
