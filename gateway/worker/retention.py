"""Stream retention: the event streams are trimmed once their entries are applied and old.

An entry may go once every consumer group has acknowledged it (it is not pending, and the
group has read past it) and it is older than the retention: ``XTRIM MINID`` to the oldest of
each group's first pending entry, each group's last delivered entry and the retention cutoff,
so that nothing unacknowledged or unread is ever trimmed, whatever the retention. Redis
trims whole internal nodes with ``~`` (a few entries more may stay until the next pass).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

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
    """Trim the exposure and outcome streams; entries removed per stream."""
    removed = {}
    for stream in (keys.exposures, keys.outcomes):
        if not await redis.exists(stream):
            continue
        ms, seq = await keep_from(redis, stream, now_ms - int(retention_s * 1000))
        removed[stream] = int(
            await redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=approximate)
        )
    return removed
