"""The Redis client every abgate process uses."""

from __future__ import annotations

from redis.asyncio import Redis


def redis_client(url: str) -> Redis:
    # Short timeouts: a dead Redis must show up as an error fast, never as a stalled flush.
    return Redis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=1.0, health_check_interval=5
    )
