"""Reading the per-variant integer sums the worker keeps (:mod:`gateway.worker.aggregates`
writes them): shared by the worker's evaluation and the admin API, so neither imports the other."""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

from gateway.interleave.decide import InterleavingSums, parse_sums
from gateway.keys import Keys

STAT_FIELDS: Final = (
    "users",
    "converters",
    "revenue_cents",
    "revenue_cents_sq",
    "searches",
    "searches_sq",
    "clicks",
    "clicks_sq",
    "clicks_x_searches",
    "carts",
    "revenue_x_searches",
    # CUPED (gateway.worker.aggregates): each user's purchases and revenue (whole units)
    # before their first exposure, their squares, and their products with the metric.
    "pre_purchases",
    "pre_purchases_sq",
    "converters_x_pre",
    "pre_revenue",
    "pre_revenue_sq",
    "revenue_x_pre",
    # Click metrics per search (gateway.worker.aggregates): searches with a click, reciprocal
    # rank of the first click and DCG@10 (thousandths), add-to-carts; squares, x searches.
    "clicked_searches",
    "clicked_searches_sq",
    "clicked_searches_x_searches",
    "rr",
    "rr_sq",
    "rr_x_searches",
    "dcg",
    "dcg_sq",
    "dcg_x_searches",
    "carts_sq",
    "carts_x_searches",
    # where clicks land: 1/(position+1) of every click (thousandths), a ratio over clicks
    "rrc",
    "rrc_sq",
    "rrc_x_clicks",
    # events of the arm's users past a per-user cap (gateway.worker.aggregates.EventCaps)
    "capped",
)


async def read_variant_stats(
    redis: Redis, keys: Keys, experiment: str
) -> dict[str, dict[str, int]]:
    """``{variant: {field: integer sum}}``: the experiment's stats hashes, summed over the shards
    (each shard sums its own users; a user is in one shard)."""
    out: dict[str, dict[str, int]] = {}
    for raw in await _every_shard(redis, [s.stats(experiment) for s in keys.all_shards]):
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            variant, _, stat = name.rpartition(":")
            sums = out.setdefault(variant, dict.fromkeys(STAT_FIELDS, 0))
            sums[stat] = sums.get(stat, 0) + int(value)
    return out


async def _every_shard(redis: Redis, hashes: list[str]) -> list[dict[Any, Any]]:
    """HGETALL of each hash, in one pipeline (a cluster client sends each to its node)."""
    pipe = redis.pipeline(transaction=False)
    for key in hashes:
        pipe.hgetall(key)
    return list(await pipe.execute())


async def read_interleaving(
    redis: Redis, keys: Keys, experiment: str, teams: int
) -> InterleavingSums:
    """An interleaved experiment phase's counts (gateway.worker.aggregates keeps them)."""
    sums: dict[str, int] = {}
    for raw in await _every_shard(redis, [s.interleaving(experiment) for s in keys.all_shards]):
        for k, v in raw.items():
            name = k.decode() if isinstance(k, bytes) else str(k)
            sums[name] = sums.get(name, 0) + int(v)
    return parse_sums(teams, sums)
