"""The worker's join against real Redis: de-duplication, late exposures, per-variant statistics."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.variant_stats import read_segment_stats, read_variant_stats
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
    user's values by the catalogue's rule (Σx, Σx², Σxy of gateway.catalogue.quantities;
    CUPED's pre-exposure covariates and the ratios' cross-products included), the values
    themselves counted here from the events, independently of the scripts. Every sum the
    scripts write is the catalogue's, and every catalogue sum is written. With several shards
    (one Redis, or a three-master Redis Cluster) each user's entries go to their shard's
    streams, one consumer per shard applies them, and the sums the evaluator reads are each
    shard's added up: the same figures as one shard's. Each search says its device; a user's
    segments in a phase are those of their first exposure in it, with shopper new or returning
    (bought before), and each segment's sums are the recount of its users."""
    import math
    import random

    from gateway.catalogue.quantities import CATALOGUE, SUM_NAMES

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
                unit = units[experiment, user] = dict.fromkeys(
                    (q.name for q in CATALOGUE.quantities), 0
                )
                unit["variant"] = rng.choice("ab")
                unit["pre_purchases"] = min(p, 1000)
                unit["pre_revenue"] = min(r // 100, 100_000)
            sid = f"{experiment}-s{n}"
            device = rng.choice(["mobile", "desktop"])
            unit.setdefault("device", device)
            unit.setdefault("shopper", "returning" if unit["pre_purchases"] else "new")
            await redis.xadd(
                keys.for_user(user).exposures,
                exposure(
                    sid,
                    user,
                    str(unit["variant"]),
                    experiment,
                    segments=f"device={device}|shopper=*",
                ),
            )
            unit["searches"] += 1
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
                    unit["clicks"] += 1
                    unit["rrc"] += math.floor(1000 / (pos + 1) + 0.5)
                    if not clicked:  # the search's first click: clicked, its reciprocal rank
                        clicked = True
                        unit["clicked_searches"] += 1
                        unit["rr"] += math.floor(1000 / (pos + 1) + 0.5)
                    if pos < 10:  # DCG@10 in thousandths
                        unit["dcg"] += math.floor(1000 / math.log2(pos + 2) + 0.5)
                elif kind == "add_to_cart":
                    unit["carts"] += 1
                elif kind == "purchase":
                    unit["revenue_cents"] += cents
                    unit["purchases"] += 1
                    unit["converters"] = 1
                    activity[user][0] += 1
                    activity[user][1] += cents
            await sharded.step()  # in order: pre-exposure means before this search
    written: set[str] = set()
    for experiment in ("x", "y"):
        stats = await read_variant_stats(redis, keys, experiment)
        for shard in keys.all_shards:
            for name in await redis.hkeys(shard.stats(experiment)):
                written.add((name.decode() if isinstance(name, bytes) else name).rpartition(":")[2])
        segments = await read_segment_stats(redis, keys, experiment)
        for variant in "ab":
            us = [u for (e, _), u in units.items() if e == experiment and u["variant"] == variant]
            expected = CATALOGUE.expected_sums(us)
            assert dict(stats.get(variant, {})) == expected, (experiment, variant)
            for dimension, value in (
                ("device", "mobile"), ("device", "desktop"), ("shopper", "new"),
                ("shopper", "returning"),
            ):  # fmt: skip
                inside = [u for u in us if u[dimension] == value]
                got = segments.get(variant, {}).get((dimension, value))
                assert dict(got or {}) == (CATALOGUE.expected_sums(inside) if inside else {}), (
                    experiment, variant, dimension, value,
                )  # fmt: skip
    assert written <= set(SUM_NAMES), written - set(SUM_NAMES)
    assert written == set(SUM_NAMES) - {"capped"}, set(SUM_NAMES) - written  # all are kept
    assert (
        sum(u["pre_purchases"] for (e, _), u in units.items() if e == "y") > 0
    )  # covariates exist
    if keys.shards > 1:  # the users really are spread: several shards hold sums
        holding = [await redis.exists(shard.stats("x")) for shard in keys.all_shards]
        assert sum(holding) >= 3, holding
