"""The deployment's shard count, recorded once in Redis so that every process agrees on it.

A user's state lives in the shard :func:`gateway.keys.shard_of` names; a process started with
another ``ABGATE_SHARDS`` would look for users in the wrong shards, so it refuses to start.
"""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.errors import ConfigError
from gateway.keys import Keys


async def check_layout(redis: Redis, keys: Keys) -> None:
    """Record ``keys.shards`` if no process has yet; raise ``ConfigError`` if it differs."""
    await redis.set(keys.layout, keys.shards, nx=True)
    stored = int(await redis.get(keys.layout) or keys.shards)
    if stored != keys.shards:
        raise mismatch(keys, stored)


def mismatch(keys: Keys, stored: int) -> ConfigError:
    """The error of a process whose ``ABGATE_SHARDS`` is not the recorded ``stored``."""
    return ConfigError(
        "ABGATE_SHARDS",
        f"this deployment's data (prefix {keys.prefix!r}) is split into {stored} shards, "
        f"got {keys.shards}; start every process with ABGATE_SHARDS={stored}",
    )
