"""ConfigWatcher against real Redis: its version poll says whether Redis answers
(``abgate_redis_up``: 1 after a poll that reached it, 0 after one that did not)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from gateway.control.store import ConfigStore
from gateway.control.watcher import ConfigWatcher
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis, free_port


def _redis_up() -> float | None:
    return REGISTRY.get_sample_value("abgate_redis_up")


async def test_the_poll_says_whether_redis_answers(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    nowhere = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    here = redis_client(redis_server.url)
    try:
        down = ConfigWatcher(ConfigStore(nowhere, Keys(prefix)), lambda *_: None, 0)
        up = ConfigWatcher(ConfigStore(here, Keys(prefix)), lambda *_: None, 0)
        assert await down.refresh() is False
        assert _redis_up() == 0
        assert await up.refresh() is False  # reached: nothing newer than version 0
        assert _redis_up() == 1
        assert await down.refresh() is False
        assert _redis_up() == 0
    finally:
        await nowhere.aclose()
        await here.aclose()
