"""The backup's read of the control plane is one moment's: a change between its SCAN and its
MULTI (a config change, a new experiment's history) makes it read again, so the keys and the
recorded config version always agree. Faults injected into the real read, on real Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.backup import snapshot
from gateway.backup.records import ListKey, StringKey
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis


@pytest.mark.parametrize("change", ["config version", "a new history"])
async def test_a_change_during_the_read_makes_it_read_again(
    change: str, redis_server: EmbeddedRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = Keys(prefix)
    redis = redis_client(redis_server.url)
    real: Callable[..., Awaitable[set[str]]] = snapshot.kept_names
    calls = []

    async def meddling(client: Any, k: Keys) -> set[str]:
        names = await real(client, k)
        calls.append(len(names))
        if len(calls) == 1:  # inside the first try's WATCH, before its MULTI
            if change == "config version":
                await redis.incr(keys.version)  # WATCHed: the transaction fails
            # Not WATCHed: seen by the scan after the read
            await redis.rpush(keys.evaluation_history("late"), "look")
        return names

    try:
        await redis.set(keys.version, 3)
        await redis.set(keys.config, "{}")
        monkeypatch.setattr(snapshot, "kept_names", meddling)
        found = await snapshot.read_control_plane(redis, keys)
    finally:
        await redis.aclose()
    assert len(calls) >= 3  # a second try
    by_key = {r.key: r for r in found.keys}
    assert by_key[":history:late"] == ListKey(":history:late", [b"look"])
    version = 4 if change == "config version" else 3
    assert found.config_version == version
    assert by_key[":config:version"] == StringKey(":config:version", str(version).encode())
