"""The worker's join against real Redis: de-duplication, late exposures, per-variant statistics."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.consumer import StreamConsumer
from tests.worker.conftest import Sharded
from tests.worker.entries import exposure, outcome


async def test_join_dedup_and_late_exposure(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    # An outcome that arrives before its exposure is held, not lost.
    await redis.xadd(keys.shard(0).outcomes, outcome("p1", "s1", "purchase", 10.0, user="alice"))
    await consumer.step(block_ms=10)
    assert consumer.stats.deferred == 1 and consumer.stats.outcomes == 0
    for sid, user, variant in [("s1", "alice", "a"), ("s2", "alice", "a"), ("s3", "bob", "b")]:
        await redis.xadd(keys.shard(0).exposures, exposure(sid, user, variant))
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "alice", "a"))  # replayed duplicate
    await redis.xadd(keys.shard(0).outcomes, outcome("p2", "s2", "purchase", 5.0, user="alice"))
    await redis.xadd(  # a duplicate
        keys.shard(0).outcomes, outcome("p2", "s2", "purchase", 5.0, user="alice")
    )
    await redis.xadd(keys.shard(0).outcomes, outcome("c1", "s3", "click", user="bob"))
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
    pending = await redis.xpending(keys.shard(0).outcomes, "abgate-workers")
    assert pending["pending"] == 0  # everything applied is acknowledged


async def test_unacknowledged_entries_are_reapplied_after_a_restart(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    first = StreamConsumer(redis, keys, "same-name")
    await first.setup()
    await redis.xadd(keys.shard(0).exposures, exposure("s9", "carol", "a"))
    # Read but "crash" before applying: the entry stays pending for this consumer name.
    await redis.xreadgroup("abgate-workers", "same-name", {keys.shard(0).exposures: ">"}, count=10)
    restarted = StreamConsumer(redis, keys, "same-name")
    await restarted.setup()
    await restarted.drain_pending()
    assert (await read_variant_stats(redis, keys, "x"))["a"]["users"] == 1


@pytest.mark.parametrize("sharded", [("single", 1), ("single", 5), ("cluster", 7)], indirect=True)
async def test_every_sum_matches_a_recount_from_the_users(sharded: Sharded) -> None:
    """Random traffic through the real scripts; each variant's sums recomputed from each
    user's values (CUPED's pre-exposure covariates and revenue per search's cross-product
    included). With several shards (one Redis, or a three-master Redis Cluster) each user's
    entries go to their shard's streams, one consumer per shard applies them, and the sums the
    evaluator reads are each shard's added up: the same figures as one shard's."""
    import math
    import random

    from gateway.variant_stats import STAT_FIELDS

    redis, keys = sharded.redis, sharded.keys
    rng = random.Random(7)
    users = [f"u{i}" for i in range(12)]
    activity = {u: [0, 0] for u in users}  # purchases, revenue in cents, over all experiments
    units: dict[tuple[str, str], dict[str, Any]] = {}  # (experiment, user) -> values
    n = 0
    for experiment in ("x", "y"):  # y's users bring what they bought in x as covariates
        for _ in range(120):
            n += 1
            user = rng.choice(users)
            unit = units.get((experiment, user))
            if unit is None:
                p, r = activity[user]
                unit = units[experiment, user] = {
                    "variant": rng.choice("ab"), "s": 0, "c": 0, "r": 0, "conv": 0,
                    "pre_p": min(p, 1000), "pre_r": min(r // 100, 100_000),
                    "cs": 0, "rr": 0, "dcg": 0, "k": 0, "rrc": 0,
                }  # fmt: skip
            sid = f"{experiment}-s{n}"
            await redis.xadd(
                keys.for_user(user).exposures, exposure(sid, user, str(unit["variant"]), experiment)
            )
            unit["s"] += 1
            clicked = False
            for k in range(rng.choice([0, 0, 1, 2])):
                kind = rng.choice(["click", "click", "purchase", "add_to_cart"])
                cents = rng.randint(1, 30_000) if kind == "purchase" else 0
                pos = rng.randrange(14)
                await redis.xadd(
                    keys.for_user(user).outcomes,
                    outcome(f"{sid}-{k}", sid, kind, cents / 100, pos, user),
                )
                if kind == "click":
                    unit["c"] += 1
                    unit["rrc"] += math.floor(1000 / (pos + 1) + 0.5)
                    if not clicked:  # the search's first click: clicked, its reciprocal rank
                        clicked = True
                        unit["cs"] += 1
                        unit["rr"] += math.floor(1000 / (pos + 1) + 0.5)
                    if pos < 10:  # DCG@10 in thousandths
                        unit["dcg"] += math.floor(1000 / math.log2(pos + 2) + 0.5)
                elif kind == "add_to_cart":
                    unit["k"] += 1
                elif kind == "purchase":
                    unit["r"] += cents
                    unit["conv"] = 1
                    activity[user][0] += 1
                    activity[user][1] += cents
            await sharded.step()  # in order: pre-exposure means before this search
    for experiment in ("x", "y"):
        stats = await read_variant_stats(redis, keys, experiment)
        for variant in "ab":
            us = [u for (e, _), u in units.items() if e == experiment and u["variant"] == variant]
            expected = {
                "users": len(us),
                "converters": sum(u["conv"] for u in us),
                "revenue_cents": sum(u["r"] for u in us),
                "revenue_cents_sq": sum(u["r"] ** 2 for u in us),
                "searches": sum(u["s"] for u in us),
                "searches_sq": sum(u["s"] ** 2 for u in us),
                "clicks": sum(u["c"] for u in us),
                "clicks_sq": sum(u["c"] ** 2 for u in us),
                "clicks_x_searches": sum(u["c"] * u["s"] for u in us),
                "revenue_x_searches": sum(u["r"] * u["s"] for u in us),
                "pre_purchases": sum(u["pre_p"] for u in us),
                "pre_purchases_sq": sum(u["pre_p"] ** 2 for u in us),
                "converters_x_pre": sum(u["conv"] * u["pre_p"] for u in us),
                "pre_revenue": sum(u["pre_r"] for u in us),
                "pre_revenue_sq": sum(u["pre_r"] ** 2 for u in us),
                "revenue_x_pre": sum(u["r"] * u["pre_r"] for u in us),
                "carts": sum(u["k"] for u in us),
                "carts_sq": sum(u["k"] ** 2 for u in us),
                "carts_x_searches": sum(u["k"] * u["s"] for u in us),
                "rrc": sum(u["rrc"] for u in us),
                "rrc_sq": sum(u["rrc"] ** 2 for u in us),
                "rrc_x_clicks": sum(u["rrc"] * u["c"] for u in us),
            }
            for name, key in (("clicked_searches", "cs"), ("rr", "rr"), ("dcg", "dcg")):
                expected[name] = sum(u[key] for u in us)
                expected[f"{name}_sq"] = sum(u[key] ** 2 for u in us)
                expected[f"{name}_x_searches"] = sum(u[key] * u["s"] for u in us)
            got = {f: stats.get(variant, {}).get(f, 0) for f in expected}
            assert got == expected, (experiment, variant)
            assert set(expected) <= set(STAT_FIELDS)
    assert sum(u["pre_p"] for (e, _), u in units.items() if e == "y") > 0  # covariates exist
    if keys.shards > 1:  # the users really are spread: several shards hold sums
        holding = [await redis.exists(shard.stats("x")) for shard in keys.all_shards]
        assert sum(holding) >= 3, holding
