"""A client of the session's real Redis for the catalogue's script tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = redis_client(redis_server.url)
    yield client
    await client.aclose()
