"""Bad input gets a clear 4xx naming what was wrong and where, and changes nothing (invariant 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from gateway.schema import MAX_CANDIDATES
from tests.tokens import audited_changes

GOOD_SEARCH = {"user_id": "u", "query": "shoes", "candidates": [1, 2, 3]}
GOOD_EVENT = {"event_id": "e", "type": "click", "search_id": "s", "user_id": "u", "item_id": 1}
AUTH = {"Authorization": "Bearer test-token"}
JSON = {"Content-Type": "application/json"}


async def _state(gw: Gateway) -> tuple[Any, ...]:
    await asyncio.sleep(0.1)  # let the sink flush anything (there should be nothing)
    return (
        gw.sink.count("accepted"),
        await gw.redis.xlen(gw.keys.shard(0).exposures),
        await gw.redis.xlen(gw.keys.shard(0).outcomes),
        await gw.redis.get(gw.keys.version),
        await gw.redis.get(gw.keys.config),
        len(await audited_changes(gw.redis, gw.keys)),
    )


SEARCH_CASES = [
    (b"{not json", 400, "$", "malformed JSON"),
    (b"", 400, "$", "empty body"),
    (b"[1, 2]", 400, "$", "expected `object`, got `array`"),
    ({"query": "x", "candidates": [1]}, 400, "$.user_id", "is required"),
    (GOOD_SEARCH | {"user_id": 7}, 400, "$.user_id", "expected `str`, got `int`"),
    (GOOD_SEARCH | {"candidates": "1,2"}, 400, "$.candidates", "expected `array`, got `str`"),
    (
        GOOD_SEARCH | {"candidates": [1, 2.5]},
        400,
        "$.candidates[1]",
        "expected `int | str | object`, got `float`",
    ),
    (GOOD_SEARCH | {"candidates": [1, -4]}, 400, "$.candidates[1]", "expected `int` >= 0"),
    (GOOD_SEARCH | {"candidates": []}, 400, "$.candidates", "expected `array` of length >= 1"),
    (
        GOOD_SEARCH | {"candidates": list(range(MAX_CANDIDATES + 1))},
        400,
        "$.candidates",
        "expected `array` of length <= 1000",
    ),
    (GOOD_SEARCH | {"candidates": [1, 1]}, 400, "$.candidates", "unique"),
    (GOOD_SEARCH | {"k": 0}, 400, "$.k", "expected `int` >= 1"),
    (GOOD_SEARCH | {"k": True}, 400, "$.k", "expected `int`, got `bool`"),
    (GOOD_SEARCH | {"colour": "red"}, 400, "$.colour", "unknown field"),
    (GOOD_SEARCH | {"query": "x" * 600}, 400, "$.query", "expected `str` of length <= 512"),
    (GOOD_SEARCH | {"user_id": "   "}, 400, "$.user_id", "must not be only whitespace"),
    (GOOD_SEARCH | {"user_id": "a\x00b"}, 400, "$.user_id", "control or format characters"),
    (GOOD_SEARCH | {"user_id": "u\u200b"}, 400, "$.user_id", "control or format characters"),
]


@pytest.mark.parametrize(("body", "status", "where", "message"), SEARCH_CASES)
async def test_bad_search(
    client: TestClient, gateway: Gateway, body: Any, status: int, where: str, message: str
) -> None:
    before = await _state(gateway)
    kwargs = {"data": body, "headers": JSON} if isinstance(body, bytes) else {"json": body}
    response = await client.post("/v1/search", **kwargs)
    assert response.status == status
    error = (await response.json())["error"]
    assert error["where"] == where and message in error["message"], error
    assert await _state(gateway) == before


async def test_oversized_body_is_413(client: TestClient, gateway: Gateway) -> None:
    before = await _state(gateway)
    response = await client.post("/v1/search", data=b"{" + b" " * (70 * 1024) + b"}", headers=JSON)
    assert response.status == 413
    assert "larger than" in (await response.json())["error"]["message"]
    assert await _state(gateway) == before


EVENT_CASES = [
    (
        GOOD_EVENT | {"type": "view"},
        "$.type",
        "Invalid enum value 'view'; expected one of ['click', 'add_to_cart', 'purchase']",
    ),
    (
        {k: v for k, v in GOOD_EVENT.items() if k != "search_id"},
        "$.search_id",
        "is required for a click or add-to-cart: send the search_id its search was answered "
        "with (only a purchase, at checkout, may omit it)",
    ),
    (
        {"events": [GOOD_EVENT, GOOD_EVENT | {"type": "add_to_cart", "search_id": None}]},
        "$.events[1].search_id",
        "is required for a click or add-to-cart",
    ),
    (GOOD_EVENT | {"type": "purchase", "search_id": ""}, "$.search_id", "length >= 1"),
    (GOOD_EVENT | {"value": "12"}, "$.value", "expected `float`, got `str`"),
    (GOOD_EVENT | {"position": -1}, "$.position", "expected `int` >= 0"),
    (
        {"events": [GOOD_EVENT, GOOD_EVENT | {"item_id": 1.5}]},
        "$.events[1].item_id",
        "expected `int | str`, got `float`",
    ),
    ({"events": []}, "$.events", "expected `array` of length >= 1"),
    (GOOD_EVENT | {"value": 3.2e6}, "$.value", "expected `float` <= 100000.0"),
    (GOOD_EVENT | {"user_id": "\t\n"}, "$.user_id", "control or format characters"),
    (GOOD_EVENT | {"event_id": " "}, "$.event_id", "must not be only whitespace"),
]


@pytest.mark.parametrize(("body", "where", "message"), EVENT_CASES)
async def test_bad_events_change_nothing_not_even_the_good_ones(
    client: TestClient, gateway: Gateway, body: Any, where: str, message: str
) -> None:
    before = await _state(gateway)
    response = await client.post("/v1/events", json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["where"] == where and message in error["message"], error
    assert await _state(gateway) == before


PATCH_CASES = [
    ("nope", {"coverage": 0.5}, AUTH, 404, "experiment 'nope' does not exist"),
    ("better", {"coverage": 0.5}, {}, 401, "bearer token"),
    ("better", {"coverage": 0.5}, {"Authorization": "Bearer wrong"}, 401, "bearer token"),
    (
        "better",
        {"weights": {"control": 0.6, "candidate": 0.6}},
        AUTH,
        422,
        "weights sum to 1.2, expected 1.0",
    ),
    (
        "better",
        {"weights": {"control": 1.0, "ghost": 0.0}},
        AUTH,
        422,
        "unknown variant(s) ['ghost']",
    ),
    ("better", {"coverage": 2}, AUTH, 400, "expected `float` <= 1.0, got 2"),
    ("better", {"status": "paused"}, AUTH, 422, "is set by the lifecycle"),
    ("better", {"speed": "fast"}, AUTH, 400, "unknown field"),
    ("better", {"mde": 0.2}, AUTH, 409, "is running: only ['weights', 'coverage'] can change"),
    ("better", {}, AUTH, 400, "non-empty object"),
]


@pytest.mark.parametrize(("key", "body", "headers", "status", "message"), PATCH_CASES)
async def test_bad_patch(
    client: TestClient,
    gateway: Gateway,
    key: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = await _state(gateway)
    response = await client.patch(f"/v1/experiments/{key}", json=body, headers=headers)
    assert response.status == status
    assert message in (await response.json())["error"]["message"]
    assert await _state(gateway) == before


async def test_a_value_outside_its_choices_is_named_with_the_choices(
    client: TestClient, gateway: Gateway
) -> None:
    experiment = {
        "key": "typo",
        "primary_metric": "click_through",
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "treatment", "model_version": "cand-v2", "weight": 0.5},
        ],
    }
    before = await _state(gateway)
    response = await client.post("/v1/experiments", json=experiment, headers=AUTH)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["where"] == "$.primary_metric"
    assert error["message"].startswith("is not one of ['abandonment_rate', ")
    assert "'click_through_rate'" in error["message"]
    assert error["message"].endswith(", got 'click_through'")
    nested = experiment | {
        "primary_metric": "click_through_rate",
        "guardrails": [{"metric": "revenue", "margin": 0.05}],
    }
    response = await client.post("/v1/experiments", json=nested, headers=AUTH)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["where"] == "$.guardrails[0].metric"
    assert "'revenue_per_user'" in error["message"] and error["message"].endswith("got 'revenue'")
    assert await _state(gateway) == before
