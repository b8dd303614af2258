"""What the worker credits, against real Redis: an event counts only for the user of the search
it names and, for clicks and add-to-carts, only on an item of that search's page; what one
user weighs is capped; and none of it depends on how many shards the data is split into."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.variant_stats import read_variant_stats
from gateway.worker.aggregates import EventCaps
from gateway.worker.consumer import StreamConsumer
from tests.worker.conftest import Sharded
from tests.worker.entries import exposure, item_outcome

PAGE = [11, 12, 13]


async def _dead(redis: Redis, keys: Keys) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f[b"error"].decode(), orjson.loads(f[b"e"]))
        for _, f in await redis.xrange(keys.dead_letters)
    ]


async def test_an_event_counts_for_its_searchs_user_on_its_searchs_page(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "ann", items=PAGE))
    for fields in (
        item_outcome("e1", "s1", 12, "click", "ann"),  # counted
        item_outcome("e2", "s1", 12, "click", "mallory"),  # another user's search
        item_outcome("e3", "s1", 99, "click", "ann"),  # not on the page
        item_outcome("e4", "s1", 99, "add_to_cart", "ann"),  # not on the page
        item_outcome("e5", "s1", 99, "purchase", "ann", 20.0),  # bought elsewhere: counted
    ):
        await redis.xadd(keys.shard(0).outcomes, fields)
    await consumer.step(block_ms=None)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert (stats["clicks"], stats["carts"], stats["converters"]) == (1, 0, 1)
    assert stats["revenue_cents"] == 2000
    dead = await _dead(redis, keys)
    assert [(why, e["event_id"]) for why, e in dead] == [
        ("the event's user_id is not the user of the search it names", "e2"),
        ("the item was not on the page the search showed", "e3"),
        ("the item was not on the page the search showed", "e4"),
    ]
    assert consumer.stats.dead == 3 and consumer.stats.outcomes == 2


async def test_what_one_user_weighs_is_capped_and_counted_as_capped(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1", caps=EventCaps(per_search=3, purchases_per_day=4))
    await consumer.setup()
    for n in range(3):
        await redis.xadd(keys.shard(0).exposures, exposure(f"s{n}", "bot", items=PAGE))
    await consumer.step(block_ms=None)
    for k in range(10):  # ten clicks on one search: three counted
        await redis.xadd(keys.shard(0).outcomes, item_outcome(f"c{k}", "s0", 11, user="bot"))
    for n in range(3):  # three purchases on each search: four counted in the day
        for k in range(3):
            event = item_outcome(f"p{k}", f"s{n}", 11, "purchase", "bot", 10.0)
            await redis.xadd(keys.shard(0).outcomes, event)
    await redis.xadd(keys.shard(0).outcomes, item_outcome("c0", "s0", 11, user="bot"))  # again
    await consumer.step(block_ms=None)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert stats["clicks"] == 3 and stats["revenue_cents"] == 4 * 1000
    assert stats["capped"] == 7 + 5
    assert consumer.stats.capped == 12 and consumer.stats.duplicates == 1


@pytest.mark.parametrize("sharded", [("single", 1), ("single", 4)], indirect=True)
async def test_the_same_event_id_of_two_users_counts_for_each_whatever_the_shards(
    sharded: Sharded,
) -> None:
    """Event ids are the storefront's: two users' events may share one. Each counts once for
    its own search (retries of either are duplicates), with one shard as with four."""
    redis, keys = sharded.redis, sharded.keys
    for user, sid in (("ann", "s-ann"), ("bob", "s-bob")):
        await redis.xadd(keys.for_user(user).exposures, exposure(sid, user, items=PAGE))
        for _ in range(2):  # and a retry
            await redis.xadd(keys.for_user(user).outcomes, item_outcome("e1", sid, 11, user=user))
    await sharded.step()
    await sharded.step()
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert (stats["users"], stats["clicks"]) == (2, 2)
    assert sum(c.stats.duplicates for c in sharded.consumers) == 2
    assert await redis.xlen(keys.dead_letters) == 0


async def test_a_page_of_string_skus_is_checked_item_by_item_whatever_they_hold(
    redis: Redis, prefix: str
) -> None:
    """SKUs may hold commas: a click on "B" is not on a page that showed "A,B"."""
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    page: Any = ["A,B", "SKU-7", 12]
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "ann", items=page))
    for fields in (
        item_outcome("e1", "s1", "A,B", "click", "ann"),  # type: ignore[arg-type]
        item_outcome("e2", "s1", "B", "click", "ann"),  # type: ignore[arg-type]
        item_outcome("e3", "s1", "12", "add_to_cart", "ann"),  # type: ignore[arg-type]
        item_outcome("e4", "s1", "SKU-", "click", "ann"),  # type: ignore[arg-type]
    ):
        await redis.xadd(keys.shard(0).outcomes, fields)
    await consumer.step(block_ms=None)
    stats = (await read_variant_stats(redis, keys, "x"))["a"]
    assert (stats["clicks"], stats["carts"]) == (1, 1)
    assert [e["event_id"] for _, e in await _dead(redis, keys)] == ["e2", "e4"]
