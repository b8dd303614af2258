"""A webhook receiver on loopback (a real aiohttp server) that records what it is sent and
answers the statuses a test scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.redis_server import free_port
from gateway.webhooks.signing import SIGNATURE_HEADER, verify


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int, limit_s: float = 20.0) -> list[Received]:
        """The first ``count`` requests, once they have come."""
        async with asyncio.timeout(limit_s):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[:count]

    def signed_events(self, secret: str) -> list[tuple[Received, Any]]:
        """Every request with its JSON body, once its signature is shown to be ``secret``'s."""
        for request in self.received:
            verify(secret, request.headers[SIGNATURE_HEADER], request.body, now=time.time())
        return [(r, orjson.loads(r.body)) for r in self.received]


@asynccontextmanager
async def serving_receiver() -> AsyncIterator[Receiver]:
    """A receiver on a free loopback port, for as long as the block runs."""
    port = free_port()
    recv = Receiver(f"http://127.0.0.1:{port}/hook")
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield recv
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as recv:
        yield recv
