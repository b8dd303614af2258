"""The admin API under misuse: tokens, actors, races, lifecycle rules, Redis outages, counters."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway import metrics
from gateway.errors import ConfigError
from gateway.http.app import build_app, refuse_the_demo_token
from gateway.http.state import Gateway
from gateway.redis_server import EmbeddedRedis
from gateway.settings import Settings
from tests.http.conftest import GatewayTestServer
from tests.tokens import auth

AUTH = {"Authorization": "Bearer test-token"}


def test_an_empty_admin_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "   ", "two words"):
        monkeypatch.setenv("ABGATE_ADMIN_TOKEN", value)
        with pytest.raises(ConfigError, match="ABGATE_ADMIN_TOKEN"):
            Settings.from_env()
    monkeypatch.setenv("ABGATE_ADMIN_TOKEN", "s3cret")
    assert Settings.from_env().admin_token == "s3cret"


async def test_a_gateway_refuses_to_start_with_the_demo_token_outside_the_demo(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for raw in (None, "dev-admin-token"):
        if raw is None:
            monkeypatch.delenv("ABGATE_ADMIN_TOKEN", raising=False)
        else:
            monkeypatch.setenv("ABGATE_ADMIN_TOKEN", raw)
        defaults = Settings.from_env()
        assert defaults.admin_token == "dev-admin-token" and defaults.admin_token_is_default
    demo_like = replace(
        settings, admin_token="dev-admin-token", admin_token_is_default=True, demo=False
    )
    with pytest.raises(ConfigError, match=r"ABGATE_ADMIN_TOKEN.*demo token"):
        refuse_the_demo_token(demo_like)  # the first step of a gateway's start
    async with TestClient(GatewayTestServer(build_app(replace(demo_like, demo=True)))) as c:
        response = await c.get("/v1/whoami", headers={"Authorization": "Bearer dev-admin-token"})
        assert (await response.json()) == {"name": "admin", "role": "admin"}


async def test_a_bearer_header_with_no_token_is_refused(client: TestClient) -> None:
    for header in ("Bearer", "Bearer ", "Bearer  ", "Basic dGVzdC10b2tlbg==", "test-token"):
        response = await client.patch(
            "/v1/experiments/better", json={"coverage": 0.5}, headers={"Authorization": header}
        )
        assert response.status == 401, header


async def test_refused_attempts_are_logged_without_flooding(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="abgate.auth"):
        for _ in range(20):
            response = await client.patch(
                "/v1/experiments/better",
                json={"coverage": 0.5},
                headers={"Authorization": "Bearer guess"},
            )
            assert response.status == 401
    lines = [r for r in caplog.records if r.name == "abgate.auth"]
    assert lines and "refused PATCH /v1/experiments/better" in lines[0].getMessage()
    assert "unknown token" in lines[0].getMessage()
    assert len(lines) < 20  # throttled: one line a second, with a count of the rest


@pytest.mark.parametrize("name", ["decision-loop", "Decision-Loop", "worker-startup", "admin"])
async def test_no_token_may_bear_the_name_of_abgates_own_actors(
    client: TestClient, gateway: Gateway, name: str
) -> None:
    response = await client.post(
        "/v1/tokens", json={"name": name, "role": "viewer"}, headers=auth("alice")
    )
    assert response.status == 400
    assert "reserved" in (await response.json())["error"]["message"]
    assert await gateway.redis.hget(gateway.keys.tokens, name) is None


async def test_the_actor_comes_from_the_token_not_a_header(
    client: TestClient, gateway: Gateway
) -> None:
    response = await client.patch(
        "/v1/experiments/better", json={"coverage": 0.5}, headers=auth("alice")
    )
    assert response.status == 200
    assert (await gateway.store.audit_log(1))[0]["actor"] == "alice"
    before = await gateway.redis.xlen(gateway.keys.audit)
    claimed = await client.patch(
        "/v1/experiments/better",
        json={"coverage": 0.4},
        headers=auth("alice") | {"X-Abgate-Actor": "bob"},
    )
    assert claimed.status == 400 and (await claimed.json())["error"]["where"] == "X-Abgate-Actor"
    assert await gateway.redis.xlen(gateway.keys.audit) == before
    same = await client.patch(
        "/v1/experiments/better",
        json={"coverage": 0.4},
        headers=auth("alice") | {"X-Abgate-Actor": "alice"},
    )
    assert same.status == 200


async def test_fifty_concurrent_patches_all_apply_with_no_lost_update(
    client: TestClient, gateway: Gateway
) -> None:
    start = await gateway.store.version()
    coverages = [round(0.01 * (i + 1), 2) for i in range(50)]

    async def patch(coverage: float) -> int:
        response = await client.patch(
            "/v1/experiments/better", json={"coverage": coverage}, headers=AUTH
        )
        return response.status

    statuses = await asyncio.gather(*(patch(c) for c in coverages))
    assert statuses == [200] * 50
    assert await gateway.store.version() == start + 50
    entries = list(reversed(await gateway.store.audit_log(50)))
    # Each change was computed from the one before it: no update was lost or overwritten.
    for before, after in itertools.pairwise(entries):
        assert after["diff"][0]["old"] == before["diff"][0]["new"]
    assert sorted(e["diff"][0]["new"] for e in entries) == coverages


async def test_a_concluded_experiment_cannot_run_again(
    client: TestClient, gateway: Gateway
) -> None:
    stop = await client.post("/v1/experiments/better/stop", json={"reason": "done"}, headers=AUTH)
    assert stop.status == 200
    again = await client.post("/v1/experiments/better/start", headers=AUTH)
    assert again.status == 409
    assert "is concluded" in (await again.json())["error"]["message"]
    assert gateway.router.config.experiment("better").status == "concluded"


async def test_config_errors_name_the_experiment_once(client: TestClient) -> None:
    weights = {"control": 0.6, "candidate": 0.6}  # each fine alone: the parser's rule
    response = await client.patch("/v1/experiments/better", json={"weights": weights}, headers=AUTH)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["where"] == "experiment 'better'.variants"
    assert error["message"].count("'better'") == 1


@pytest.fixture
async def outage_client(
    settings: Settings, own_redis: EmbeddedRedis
) -> AsyncIterator[tuple[TestClient, EmbeddedRedis]]:
    server = GatewayTestServer(build_app(replace(settings, redis_url=own_redis.url)))
    async with TestClient(server) as client:
        yield client, own_redis


@pytest.mark.parametrize("fault", ["paused", "stopped"])
async def test_admin_reads_during_a_redis_outage_are_fast_json_503s(
    outage_client: tuple[TestClient, EmbeddedRedis], fault: str
) -> None:
    client, redis = outage_client
    assert (await client.get("/v1/experiments/better", headers=AUTH)).status == 200
    before = metrics.own_counts()["unavailable"]
    assert redis.process is not None
    if fault == "paused":
        os.kill(redis.process.pid, signal.SIGSTOP)
    else:
        redis.stop()
    try:
        for path in ("/v1/experiments/better", "/v1/audit", "/v1/experiments/better"):
            response = await client.get(path, headers=AUTH)
            assert response.status == 503, (path, await response.text())
            assert response.headers["Retry-After"].isdigit()
            assert (await response.json())["error"]["type"] == "unavailable"
        patch = await client.patch("/v1/experiments/better", json={"coverage": 0.5}, headers=AUTH)
        assert patch.status == 503 and (await patch.json())["error"]["type"] == "unavailable"
        # Searches never wait on Redis (invariant 2).
        search = await client.post(
            "/v1/search", json={"user_id": "u", "query": "q", "candidates": [1, 2]}
        )
        assert search.status == 200
        assert metrics.own_counts()["unavailable"] >= before + 4
    finally:
        if fault == "paused":
            os.kill(redis.process.pid, signal.SIGCONT)


async def test_counters_move(client: TestClient, gateway: Gateway) -> None:
    before = metrics.own_counts()
    assert (await client.post("/v1/search", json={"user_id": ""})).status == 400
    gateway.sink.policy = replace(gateway.sink.policy, max_buffer=0)
    shed = await client.post(
        "/v1/events",
        json={
            "event_id": "e",
            "type": "click",
            "search_id": gateway.search_ids.issue("u"),
            "user_id": "u",
            "item_id": 1,
        },
    )
    assert shed.status == 503
    counters = (await (await client.get("/metrics.json")).json())["counters"]
    assert counters["bad_requests"] == before["bad_requests"] + 1
    assert counters["shed"] == before["shed"] + 1


class _BrokenSession:
    """Fault injection: an ONNX session whose every run fails."""

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected: the model cannot run")


async def test_a_failing_model_counts_search_errors(client: TestClient, gateway: Gateway) -> None:
    before = metrics.own_counts()["search_errors"]
    route = gateway.router.route("u-broken")
    gateway.registry.get(route.model_version).session = _BrokenSession()
    response = await client.post(
        "/v1/search", json={"user_id": "u-broken", "query": "q", "candidates": [1, 2]}
    )
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert (await response.json())["error"]["type"] == "inference_failed"
    assert metrics.own_counts()["search_errors"] == before + 1
    assert gateway.sink.count("accepted") == 0  # no exposure for a search that was not served


async def test_tokens_read_at_start_serve_through_a_redis_outage(
    settings: Settings, own_redis: EmbeddedRedis
) -> None:
    """A process reads the tokens before it takes requests, so one never used before an outage
    still works during it; a token it has not read (created meanwhile) is answered 503 with
    Retry-After while the tokens cannot be read, not refused as unknown (401, audited)."""
    from gateway.access.tokens import Role, TokenStore
    from gateway.redis_client import redis_client

    store = TokenStore(redis_client(own_redis.url), settings.keys)
    known, _ = await store.create("shop", Role.STOREFRONT, "tests")
    server = GatewayTestServer(build_app(replace(settings, redis_url=own_redis.url)))
    search = {"user_id": "u", "query": "q", "candidates": [1, 2]}
    async with TestClient(server) as client:
        late, _ = await store.create("shop-two", Role.STOREFRONT, "tests")  # not read yet
        await store.redis.aclose()
        own_redis.stop()
        await asyncio.sleep(1.2)  # past the cache's time to live: a read is due, and fails
        for _ in range(3):
            ok = await client.post("/v1/search", json=search, headers=_bearer(known))
            assert ok.status == 200, await ok.text()
            unknown = await client.post("/v1/search", json=search, headers=_bearer(late))
            assert unknown.status == 503, await unknown.text()
            assert unknown.headers["Retry-After"] == "5"
            assert (await unknown.json())["error"]["type"] == "unavailable"
        refused = metrics.REFUSED.labels("bad_token")._value.get()
        own_redis.start()
        for _ in range(100):  # the next read, once Redis is back, knows it
            answer = await client.post("/v1/search", json=search, headers=_bearer(late))
            if answer.status == 200:
                break
            await asyncio.sleep(0.1)
        assert answer.status == 200, await answer.text()
        assert metrics.REFUSED.labels("bad_token")._value.get() == refused


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
