"""A real gateway app on a loopback port, with real Redis and real models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.http.app import build_app
from gateway.http.server import GatewayRunner
from gateway.http.state import GATEWAY, Gateway
from gateway.settings import Settings


class GatewayTestServer(TestServer):
    """The app behind the same runner as ``abgate serve`` (JSON errors from the parser too)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return GatewayRunner(self.app, **kwargs)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(GatewayTestServer(build_app(settings))) as test_client:
        yield test_client


@pytest.fixture
def gateway(client: TestClient) -> Gateway:
    return client.server.app[GATEWAY]
