"""Searches and events need a storefront token unless the deployment opens them
(``ABGATE_SERVING_AUTH``): the storefront may do nothing else, and of the people only an admin
may send them (a viewer's or an experimenter's token cannot feed the statistics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import build_app
from gateway.http.state import GATEWAY
from gateway.settings import Settings
from tests.http.conftest import GatewayTestServer
from tests.tokens import auth

SEARCH = {"user_id": "u-1", "query": "shoes", "candidates": [1, 2, 3]}


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[TestClient]:
    assert Settings.from_env().serving_auth == "token"  # the product's default
    async with TestClient(
        GatewayTestServer(build_app(replace(settings, serving_auth="token")))
    ) as client:
        yield client


async def _storefront_token(client: TestClient, name: str = "till-7") -> dict[str, str]:
    created = await client.post(
        "/v1/tokens", json={"name": name, "role": "storefront"}, headers=auth("alice")
    )
    assert created.status == 201, await created.text()
    return {"Authorization": f"Bearer {(await created.json())['token']}"}


async def test_serving_needs_a_storefront_token(guarded: TestClient) -> None:
    shop = await _storefront_token(guarded)
    assert (await guarded.post("/v1/search", json=SEARCH)).status == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await guarded.post("/v1/search", json=SEARCH, headers=bad)).status == 401
    for person in ("vera", "ed"):
        assert (await guarded.post("/v1/search", json=SEARCH, headers=auth(person))).status == 403
    searched = await guarded.post("/v1/search", json=SEARCH, headers=shop)
    assert searched.status == 200
    answer = await searched.json()
    click = {
        "event_id": "e-1",
        "type": "click",
        "search_id": answer["search_id"],
        "user_id": "u-1",
        "item_id": answer["results"][0]["item_id"],
    }
    assert (await guarded.post("/v1/events", json=click)).status == 401
    assert (await guarded.post("/v1/events", json=click, headers=auth("ed"))).status == 403
    assert (await guarded.post("/v1/events", json=click, headers=shop)).status == 202
    assert (await guarded.post("/v1/search", json=SEARCH, headers=auth("alice"))).status == 200
    # The storefront's token does nothing else.
    for method, path in (("GET", "/v1/experiments"), ("GET", "/v1/whoami"), ("POST", "/v1/freeze")):
        response = await guarded.request(method, path, headers=shop, json={"reason": "x"})
        assert response.status == 403, (method, path)


async def test_an_open_deployment_serves_anyone_but_checks_a_token_sent(
    client: TestClient,
) -> None:
    """Open serving needs no token; one that is sent is checked all the same, so that a wrong
    storefront token shows before the deployment requires one."""
    assert (await client.post("/v1/search", json=SEARCH)).status == 200
    assert (await client.post("/v1/search", json=SEARCH, headers=auth("shop"))).status == 200
    wrong = {"Authorization": "Bearer not-the-shops"}
    assert (await client.post("/v1/search", json=SEARCH, headers=wrong)).status == 401
    assert (await client.post("/v1/search", json=SEARCH, headers=auth("vera"))).status == 403


@pytest.mark.parametrize("shards", [1, 4])
async def test_an_event_must_name_a_search_answered_for_its_user(
    settings: Settings, shards: int
) -> None:
    """A search id copied from another user's page, or made up, is refused at the door, with
    the rest of its request, whatever the shard count; nothing reaches the streams."""
    app = build_app(replace(settings, shards=shards))
    async with TestClient(GatewayTestServer(app)) as client:
        gateway = client.server.app[GATEWAY]
        answer = await (await client.post("/v1/search", json=SEARCH)).json()
        mine = {
            "event_id": "e-1",
            "type": "purchase",
            "search_id": answer["search_id"],
            "user_id": "u-1",
            "item_id": answer["results"][0]["item_id"],
            "value": 10.0,
        }
        for bad, where in (
            (mine | {"user_id": "u-2"}, "$.search_id"),
            (mine | {"search_id": "s-1"}, "$.search_id"),
            (
                {"events": [mine, mine | {"event_id": "e-2", "user_id": "u-2"}]},
                "$.events[1].search_id",
            ),
        ):
            response = await client.post("/v1/events", json=bad)
            assert response.status == 400
            error = (await response.json())["error"]
            assert error["where"] == where
            assert "not a search this deployment answered" in error["message"]
        assert gateway.sink.count("accepted") == 1  # the search's exposure alone
        assert (await client.post("/v1/events", json=mine)).status == 202
        assert gateway.sink.count("accepted") == 2
