"""Retention: the event streams are trimmed once their entries are applied and old, and the
per-user keys of a concluded experiment expire after a grace period.

An entry may go once every consumer group has acknowledged it (it is not pending, and the
group has read past it) and it is older than the retention: ``XTRIM MINID`` to the oldest of
each group's first pending entry, each group's last delivered entry and the retention cutoff,
so that nothing unacknowledged or unread is ever trimmed, whatever the retention. Redis
trims whole internal nodes with ``~`` (a few entries more may stay until the next pass).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from gateway.config import RoutingConfig
from gateway.keys import Keys


def _id(raw: Any) -> tuple[int, int] | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def keep_from(redis: Redis, stream: str, cutoff_ms: int) -> tuple[int, int]:
    """The oldest entry id of ``stream`` that must stay: no group's unacknowledged or unread
    entry, nor any entry newer than ``cutoff_ms``, is before it."""
    keep = (cutoff_ms, 0)
    for group in await redis.xinfo_groups(stream):
        name = group["name"]
        delivered = _id(group.get("last-delivered-id"))
        if delivered is not None:
            keep = min(keep, delivered)
        pending: Any = await redis.xpending(stream, name)
        if pending and pending.get("pending"):
            first = _id(pending.get("min"))
            if first is not None:
                keep = min(keep, first)
    return keep


async def trim_streams(
    redis: Redis, keys: Keys, retention_s: float, now_ms: int, approximate: bool = True
) -> dict[str, int]:
    """Trim every shard's exposure and outcome streams; entries removed per stream."""
    removed = {}
    for stream in (s for shard in keys.all_shards for s in (shard.exposures, shard.outcomes)):
        if not await redis.exists(stream):
            continue
        ms, seq = await keep_from(redis, stream, now_ms - int(retention_s * 1000))
        removed[stream] = int(
            await redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=approximate)
        )
    return removed


async def expire_concluded(
    redis: Redis, keys: Keys, config: RoutingConfig, grace_s: float
) -> dict[str, int]:
    """Give the per-user keys of every concluded (or archived) experiment, all its phases (and
    an interleaved one's set of unsettled users), a time to live of ``grace_s``, once per
    experiment: nothing updates them any more, and its
    results live in the per-variant sums and the evaluation history, which stay. Per
    experiment, the keys given a TTL (the experiment is then remembered as done)."""
    done = {m.decode() if isinstance(m, bytes) else m for m in await redis.smembers(keys.expired)}
    out = {}
    ttl = max(1, int(grace_s))
    for experiment in config.experiments:
        if experiment.status not in ("concluded", "archived") or experiment.key in done:
            continue
        count = 0
        for shard in keys.all_shards:
            unit = glob_literal(shard.unit(experiment.key, "")[:-1])  # "{tag}:unit:<key>"
            active = glob_literal(shard.interleaving(experiment.key))  # its unsettled users
            for pattern in (f"{unit}:*", f"{unit}@*", f"{active}:active", f"{active}@*:active"):
                count += await expire_matching(redis, pattern, ttl)
        await redis.sadd(keys.expired, experiment.key)
        out[experiment.key] = count
    return out


def glob_literal(text: str) -> str:
    """``text`` as a SCAN pattern that matches only itself (``*?[]\\`` escaped)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def expire_matching(redis: Redis, pattern: str, ttl: int) -> int:
    """A time to live of ``ttl`` on every key matching ``pattern`` (SCAN, in pipelined batches
    of 1 000); how many were given one."""
    count = 0
    batch: list[Any] = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            count += await _expire(redis, batch, ttl)
            batch = []
    return count + await _expire(redis, batch, ttl)


async def _expire(redis: Redis, batch: list[Any], ttl: int) -> int:
    if not batch:
        return 0
    pipe = redis.pipeline(transaction=False)
    for key in batch:
        pipe.expire(key, ttl)
    return sum(bool(r) for r in await pipe.execute())
