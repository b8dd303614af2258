"""The interleaved experiment's counts, kept by the worker's real scripts in real Redis, against
a recount from every search's page and events with the pure team-draft credit."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict

import pytest
from redis.asyncio import Redis

from gateway.interleave.decide import PairCounts
from gateway.interleave.team_draft import credit, outcome
from gateway.keys import Keys
from gateway.variant_stats import read_interleaving, read_variant_stats
from gateway.worker.consumer import StreamConsumer
from gateway.worker.interleaving import settle
from tests.worker.conftest import Sharded
from tests.worker.entries import interleaved_exposure, item_outcome


async def _consumer(redis: Redis, prefix: str) -> tuple[Keys, StreamConsumer]:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    return keys, consumer


async def test_one_search_by_hand(redis: Redis, prefix: str) -> None:
    keys, consumer = await _consumer(redis, prefix)
    # Page 11, 12, 13 placed by teams 1, 0, 1; the rankers disagreed on the first two slots.
    await redis.xadd(
        keys.shard(0).exposures,
        interleaved_exposure("s1", "ann", [11, 12, 13], [1, 0, 1], [True, True, False]),
    )
    for eid, item, kind in [
        ("e1", 13, "click"),  # team 1: the search is won by 1 ...
        ("e2", 12, "click"),  # ... tied ...
        ("e3", 12, "click"),  # ... won by 0
        ("e3", 12, "click"),  # a duplicate changes nothing
        ("e4", 12, "purchase"),  # not the credit type: counted for team 0, no verdict
        ("e5", 99, "click"),  # not on the page: dead-lettered, counted nowhere
    ]:
        await redis.xadd(keys.shard(0).outcomes, item_outcome(eid, "s1", item, kind, "ann"))
    await consumer.step(block_ms=10)
    sums = await read_interleaving(redis, keys, "il", 2)
    assert (sums.searches, sums.slots, sums.competitive) == (1, 3, 2)
    assert sums.events == {0: {"click": 2, "purchase": 1}, 1: {"click": 1}}
    # ann prefers team 0 (one search won), but her preference counts once she is settled.
    assert sums.pair(0, 1) == PairCounts(positive=0, negative=0, users=1, won=1, lost=0)
    assert await settle(redis, keys, "il", 2, 3600.0) == 0  # active within the hour
    assert await settle(redis, keys, "il", 2, 0.0) == 1
    sums = await read_interleaving(redis, keys, "il", 2)
    assert sums.pair(0, 1) == PairCounts(positive=1, negative=0, users=1, won=1, lost=0)
    assert sums.settled == 1
    # Her later searches and clicks are not counted again: one user, one vote.
    await redis.xadd(
        keys.shard(0).exposures, interleaved_exposure("s2", "ann", [14, 15], [1, 0], [True, True])
    )
    await redis.xadd(keys.shard(0).outcomes, item_outcome("e6", "s2", 14, user="ann"))
    await redis.xadd(keys.shard(0).outcomes, item_outcome("e7", "s2", 14, user="ann"))
    await consumer.step(block_ms=10)
    assert await settle(redis, keys, "il", 2, 0.0) == 0
    sums = await read_interleaving(redis, keys, "il", 2)
    assert (sums.pair(0, 1).positive, sums.pair(0, 1).negative, sums.settled) == (1, 0, 1)
    assert sums.pair(0, 1).lost == 1  # the search itself is still counted
    users = (await read_variant_stats(redis, keys, "il"))["interleaved"]
    assert users["users"] == 1 and users["searches"] == 2 and users["clicks"] == 5
    assert consumer.stats.dead == 1  # e5


@pytest.mark.parametrize("sharded", [("single", 1), ("cluster", 5)], indirect=True)
async def test_every_count_matches_a_recount(sharded: Sharded) -> None:
    """Also on a three-master Redis Cluster with the users in five shards: each shard's
    consumer applies its users' entries, settling runs per shard, the counts read are added."""
    redis, keys, step = sharded.redis, sharded.keys, sharded.step
    rng = random.Random(5)
    users = [f"u{i}" for i in range(15)]
    for teams, experiment in ((2, "il"), (3, "ml")):
        clicks_by_search: dict[str, list[int]] = {}
        pages: dict[str, tuple[str, list[int], list[int]]] = {}
        events: Counter[tuple[int, str]] = Counter()
        slots = competitive = 0
        for n in range(150):
            user = rng.choice(users)
            sid = f"{experiment}-s{n}"
            length = rng.randint(0, 6)
            items = rng.sample(range(1000), length)
            team_of = [rng.randrange(teams) for _ in items]
            comp = [rng.random() < 0.7 for _ in items]
            slots, competitive = slots + length, competitive + sum(comp)
            pages[sid] = (user, items, team_of)
            clicks_by_search[sid] = []
            await redis.xadd(
                keys.for_user(user).exposures,
                interleaved_exposure(sid, user, items, team_of, comp, teams, experiment),
            )
            for k in range(rng.choice([0, 0, 1, 2, 3])):
                kind = rng.choice(["click", "click", "click", "add_to_cart", "purchase"])
                on_page = items and rng.random() < 0.9
                item = rng.choice(items) if on_page else 5000 + k
                await redis.xadd(
                    keys.for_user(user).outcomes, item_outcome(f"{sid}-{k}", sid, item, kind, user)
                )
                if item in items:
                    slot = items.index(item)
                    events[team_of[slot], kind] += 1
                    if kind == "click":
                        clicks_by_search[sid].append(slot)
            if n % 10 == 0:
                await step()
        await step()
        await step()
        assert await settle(redis, keys, experiment, teams, 0.0) == len(
            set(u for u, _, _ in pages.values())
        )
        sums = await read_interleaving(redis, keys, experiment, teams)
        assert (sums.searches, sums.slots, sums.competitive) == (150, slots, competitive)
        assert {
            (t, k): n for t, kinds in (sums.events or {}).items() for k, n in kinds.items()
        } == dict(events)
        for a, b in itertools.combinations(range(teams), 2):
            net: dict[str, int] = defaultdict(int)
            verdict_users: set[str] = set()
            won = lost = 0
            for sid, (user, _, team_of) in pages.items():
                c = credit(team_of, clicks_by_search[sid], teams)
                if c[a] + c[b]:
                    verdict_users.add(user)
                v = outcome(c, a, b)
                net[user] += v
                won, lost = won + (v > 0), lost + (v < 0)
            expected = PairCounts(
                positive=sum(x > 0 for x in net.values()),
                negative=sum(x < 0 for x in net.values()),
                users=len(verdict_users),
                won=won,
                lost=lost,
            )
            assert sums.pair(a, b) == expected, (experiment, a, b)
        assert sum(p.positive + p.negative for p in (sums.pairs or {}).values()) > 0
