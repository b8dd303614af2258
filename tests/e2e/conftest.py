"""The real system as subprocesses: `abgate serve` (two processes) and `abgate worker`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest

from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import free_port
from gateway.settings import Settings
from tests.conftest import TEST_CONFIGS
from tests.live import gateway_env
from tests.tokens import auth


@dataclass
class System:
    base_url: str
    settings: Settings
    group: ProcessGroup


@contextmanager
def running_system(
    settings: Settings, worker: bool = False, extra_env: dict[str, str] | None = None
) -> Iterator[System]:
    """Two gateway processes on one port (and the worker, if asked), stopped on exit."""
    port = free_port()
    group = ProcessGroup()
    env = gateway_env(settings, port) | (extra_env or {})
    try:
        for i in range(2):
            group.spawn(f"gateway-{i}", ["serve-one"], env)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", group, processes=2)
        if worker:
            group.spawn("worker", ["worker", "--interval", "1"], gateway_env(settings, 0))
        yield System(base, settings, group)
    finally:
        group.stop()


@contextmanager
def seeded_system(settings: Settings, routing: str) -> Iterator[System]:
    """The system with its worker, the store seeded from ``tests/configs/<routing>``."""
    with running_system(replace(settings, routing_file=TEST_CONFIGS / routing), worker=True) as s:
        yield s


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    """GET as a viewer; the answer must be 200 JSON."""
    async with session.get(url, headers=auth("vera")) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    with running_system(settings) as running:
        yield running


@pytest.fixture
def worker(system: System) -> Iterator[None]:
    system.group.spawn("worker", ["worker", "--interval", "1"], gateway_env(system.settings, 0))
    yield


class Api:
    """The admin API of a live system, as ``who``: each call asserts its status."""

    def __init__(self, session: aiohttp.ClientSession, base: str, who: str = "carol") -> None:
        self.session, self.base, self.headers = session, base, auth(who)

    async def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers)
        async with self.session.request(method, self.base + path, **kwargs) as response:
            body = await response.json()
            assert response.status == status, (method, path, response.status, body)
            return body

    async def until(self, path: str, check: Callable[[Any], bool], limit_s: float = 60.0) -> Any:
        """GET ``path`` until ``check`` holds for its answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not check(data := await self.call("GET", path)):
            assert loop.time() < deadline, data
            await asyncio.sleep(0.2)
        return data
