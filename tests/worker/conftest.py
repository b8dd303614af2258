"""A client of the session's real Redis for the worker's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis
from gateway.worker.consumer import StreamConsumer


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = redis_client(redis_server.url)
    yield client
    await client.aclose()


@dataclass
class Sharded:
    """One consumer per shard over a single Redis or the local Redis Cluster."""

    redis: Redis
    keys: Keys
    consumers: list[StreamConsumer]

    async def step(self) -> None:
        """Each shard's consumer reads and applies what is there (no blocking read)."""
        for consumer in self.consumers:
            await consumer.step(block_ms=None)


@pytest.fixture
async def sharded(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Sharded]:
    """Parametrised indirectly with ``(backend, shards)``: "single" or "cluster"."""
    backend, shards = request.param
    server = request.getfixturevalue("redis_cluster" if backend == "cluster" else "redis_server")
    client = redis_client(server.url)
    keys = Keys(prefix, shards)
    consumers = [StreamConsumer(client, keys, "c1", shard=n) for n in range(shards)]
    for consumer in consumers:
        await consumer.setup()
    yield Sharded(client, keys, consumers)
    await client.aclose()
