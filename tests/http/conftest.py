"""A real gateway app on a loopback port, with real Redis and real models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.http.app import build_app
from gateway.http.state import GATEWAY, Gateway
from gateway.settings import Settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(settings))) as test_client:
        yield test_client


@pytest.fixture
def gateway(client: TestClient) -> Gateway:
    return client.server.app[GATEWAY]
