"""Reading the per-variant integer sums the worker keeps (:mod:`gateway.worker.aggregates`
writes them): shared by the worker's evaluation and the admin API, so neither imports the other."""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

from gateway.catalogue.quantities import SUM_NAMES
from gateway.catalogue.sums import VariantSums
from gateway.config.segments import SEGMENT_SEP
from gateway.interleave.decide import InterleavingSums, parse_sums
from gateway.keys import Keys

# Every sum an arm keeps: the catalogue's (gateway.catalogue.quantities).
STAT_FIELDS: Final = SUM_NAMES


async def read_variant_stats(redis: Redis, keys: Keys, experiment: str) -> dict[str, VariantSums]:
    """``{variant: sums}``: the experiment's stats hashes, summed over the shards (each shard
    sums its own users; a user is in one shard). Segments' sums are left out
    (:func:`read_segment_stats`)."""
    return {arm: sums for arm, sums in (await _read_arms(redis, keys, experiment)).items()
            if SEGMENT_SEP not in arm}  # fmt: skip


# variant -> (dimension, value) -> that segment's sums
SegmentSums = dict[str, dict[tuple[str, str], VariantSums]]


async def read_segment_stats(redis: Redis, keys: Keys, experiment: str) -> SegmentSums:
    """Each variant's sums in each segment (``variant|dimension=value``, gateway.config.segments),
    summed over the shards."""
    return (await read_stats_and_segments(redis, keys, experiment))[1]


async def read_stats_and_segments(
    redis: Redis, keys: Keys, experiment: str
) -> tuple[dict[str, VariantSums], SegmentSums]:
    """:func:`read_variant_stats` and :func:`read_segment_stats` from one read."""
    arms: dict[str, VariantSums] = {}
    segments: SegmentSums = {}
    for arm, sums in (await _read_arms(redis, keys, experiment)).items():
        variant, sep, segment = arm.partition(SEGMENT_SEP)
        dimension, _, value = segment.partition("=")
        if not sep:
            arms[arm] = sums
        elif dimension and value:
            segments.setdefault(variant, {})[dimension, value] = sums
    return arms, segments


async def _read_arms(redis: Redis, keys: Keys, experiment: str) -> dict[str, VariantSums]:
    out: dict[str, dict[str, int]] = {}
    for raw in await _every_shard(redis, [s.stats(experiment) for s in keys.all_shards]):
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            arm, _, stat = name.rpartition(":")
            sums = out.setdefault(arm, {})
            sums[stat] = sums.get(stat, 0) + int(value)
    return {arm: VariantSums(sums) for arm, sums in out.items()}


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
