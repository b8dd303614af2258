"""The generated Lua through the real scripts on a real Redis: a catalogue with one more
quantity is kept by the scripts without another change (adding a metric is one entry)."""

from __future__ import annotations

import random

from redis.asyncio import Redis

from gateway.catalogue.metrics import Metric, estimate
from gateway.catalogue.quantities import CATALOGUE, Catalogue, Cross, Quantity
from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.consumer import StreamConsumer
from tests.worker.entries import exposure, outcome

WITH_PURCHASES = Catalogue(
    (*CATALOGUE.quantities, Quantity("purchases", {"purchase": "1"}, doc="purchases")),
    (*CATALOGUE.crosses, Cross("purchases", "searches")),
)
PURCHASES_PER_SEARCH = Metric(
    "purchases_per_search", "purchases per search", "ratio", "purchases", "searches"
)


async def test_a_new_quantity_is_kept_by_the_scripts(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1", catalogue=WITH_PURCHASES)
    await consumer.setup()
    rng = random.Random(3)
    values: dict[str, dict[str, int]] = {}
    for n in range(60):
        user = f"u{rng.randrange(8)}"
        unit = values.setdefault(user, {"searches": 0, "purchases": 0})
        sid = f"s{n}"
        await redis.xadd(keys.for_user(user).exposures, exposure(sid, user, "a", "x"))
        unit["searches"] += 1
        for k in range(rng.choice([0, 1, 2])):
            await redis.xadd(
                keys.for_user(user).outcomes, outcome(f"{sid}-{k}", sid, "purchase", 1.5, 0, user)
            )
            unit["purchases"] += 1
        await consumer.step(block_ms=None)
    sums = (await read_variant_stats(redis, keys, "x"))["a"]
    users = list(values.values())
    expected = WITH_PURCHASES.expected_sums(users)
    for name in ("purchases", "purchases_sq", "purchases_x_searches", "searches", "users"):
        assert sums[name] == expected[name], name
    got = estimate(PURCHASES_PER_SEARCH, sums, WITH_PURCHASES)
    assert got.mean == sum(u["purchases"] for u in users) / sum(u["searches"] for u in users)
