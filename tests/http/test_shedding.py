"""Load shedding: past ABGATE_MAX_INFLIGHT searches in progress, a search is answered 503 with
Retry-After at once, records nothing, and the others are served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import build_app
from gateway.http.state import GATEWAY
from gateway.settings import Settings
from tests.http.conftest import GatewayTestServer

LIMIT = 3


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[TestClient]:
    app = build_app(replace(settings, max_inflight=LIMIT))
    async with TestClient(GatewayTestServer(app)) as test_client:
        yield test_client


async def test_a_burst_past_the_limit_is_shed_and_the_rest_served(small: TestClient) -> None:
    gw = small.server.app[GATEWAY]

    async def one(i: int) -> tuple[int, dict[str, str], bytes]:
        body = {"user_id": f"u{i}", "query": "boots", "candidates": list(range(50))}
        async with small.post("/v1/search", json=body) as response:
            return response.status, dict(response.headers), await response.read()

    answers = await asyncio.gather(*(one(i) for i in range(60)))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) >= LIMIT and statuses.count(503) > 0, statuses
    for status, headers, body in answers:
        if status == 503:
            assert headers["Retry-After"] == "1"
            error = orjson.loads(body)["error"]
            assert error["type"] == "overloaded" and "ABGATE_MAX_INFLIGHT=3" in error["message"]
    assert gw.searching == 0  # every admitted search was counted out again
    for _ in range(100):  # the shed searches wrote no exposure
        if gw.sink.buffered == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    written = sum([await gw.redis.xlen(s.exposures) for s in gw.keys.all_shards])
    assert written == statuses.count(200)


async def test_while_the_loop_runs_behind_a_search_is_shed(small: TestClient) -> None:
    gw = small.server.app[GATEWAY]
    gw.lag.close()  # hold the measure where the test puts it
    gw.lag.lag_s = 0.2
    body = {"user_id": "u1", "query": "boots", "candidates": list(range(5))}
    async with small.post("/v1/search", json=body) as response:
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        error = (await response.json())["error"]
    assert "runs 200 ms behind (ABGATE_MAX_LAG_MS=50)" in error["message"]
    gw.lag.lag_s = 0.0
    async with small.post("/v1/search", json=body) as response:
        assert response.status == 200
