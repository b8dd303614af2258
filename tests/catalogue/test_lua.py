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

# one more quantity, from an expression over the event: purchases of 100.00 or more
WITH_BIG = Catalogue(
    (*CATALOGUE.quantities, Quantity("big_buys", {"purchase": "cents >= 10000 and 1 or 0"})),
    (*CATALOGUE.crosses, Cross("big_buys", "searches")),
)
BIG_PER_SEARCH = Metric(
    "big_buys_per_search", "big buys per search", "ratio", "big_buys", "searches"
)


async def test_a_new_quantity_is_kept_by_the_scripts(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1", catalogue=WITH_BIG)
    await consumer.setup()
    rng = random.Random(3)
    values: dict[str, dict[str, int]] = {}
    for n in range(60):
        user = f"u{rng.randrange(8)}"
        unit = values.setdefault(user, {"searches": 0, "big_buys": 0})
        sid = f"s{n}"
        await redis.xadd(keys.for_user(user).exposures, exposure(sid, user, "a", "x"))
        unit["searches"] += 1
        for k in range(rng.choice([0, 1, 2])):
            value = rng.choice([1.5, 150.0])
            await redis.xadd(
                keys.for_user(user).outcomes,
                outcome(f"{sid}-{k}", sid, "purchase", value, 0, user),
            )
            unit["big_buys"] += value >= 100
        await consumer.step(block_ms=None)
    sums = (await read_variant_stats(redis, keys, "x"))["a"]
    users = list(values.values())
    expected = WITH_BIG.expected_sums(users)
    for name in ("big_buys", "big_buys_sq", "big_buys_x_searches", "searches", "users"):
        assert sums[name] == expected[name], name
    got = estimate(BIG_PER_SEARCH, sums, WITH_BIG)
    assert got.mean == sum(u["big_buys"] for u in users) / sum(u["searches"] for u in users)
    assert 0 < got.mean < 1
