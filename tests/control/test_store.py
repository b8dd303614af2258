"""The routing config in real Redis: the seed file fills an empty store only, and a file that
differs from what Redis holds is said once, not applied."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.config import parse_routing
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = redis_client(redis_server.url)
    yield client
    await client.aclose()


async def test_the_seed_fills_an_empty_store_only_and_a_difference_is_said_once(
    redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = ConfigStore(redis, Keys(prefix))
    first = parse_routing({"production": "prod-v1"})
    assert await store.seed_or_notice(first, "gateway-startup", "a.toml")
    edited = parse_routing({"production": "cand-v2"})
    with caplog.at_level(logging.WARNING, logger="abgate.control"):
        for _ in range(3):  # three processes starting together
            assert not await store.seed_or_notice(edited, "gateway-startup", "b.toml")
    notices = [r for r in caplog.records if "differs from the routing config in Redis" in r.message]
    assert len(notices) == 1 and "b.toml" in notices[0].message
    _, stored = await store.load()
    assert stored.production == "prod-v1"
    history = await store.production_history()
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [
        (None, "prod-v1", "gateway-startup")
    ]


async def test_an_empty_seed_is_not_said_to_differ(
    redis: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A deployment from nothing (the shipped seed names nothing, as in the container image):
    once production is set, each start would otherwise warn that the seed differs."""
    store = ConfigStore(redis, Keys(prefix))
    empty = parse_routing({})
    await store.seed_or_notice(empty, "gateway-startup", "experiments.toml")
    await store.change(lambda c: parse_routing({"production": "prod-v1"}), "alice", "first")
    with caplog.at_level(logging.WARNING, logger="abgate.control"):
        assert not await store.seed_or_notice(empty, "gateway-startup", "experiments.toml")
    assert not [r for r in caplog.records if "differs from the routing config" in r.message]
