"""POST /v1/search end to end: routing, ranking, exposure in the Redis stream."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway


async def _stream(gw: Gateway, key: str) -> list[dict]:
    for _ in range(100):
        if gw.sink.buffered == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    return [orjson.loads(f[b"e"]) for _, f in await gw.redis.xrange(key)]


async def test_search_ranks_candidates_and_records_the_exposure(
    client: TestClient, gateway: Gateway
) -> None:
    body = {"user_id": "u-1", "query": "waterproof shoes", "candidates": list(range(40)), "k": 5}
    response = await client.post("/v1/search", json=body)
    assert response.status == 200
    data = await response.json()
    assert len(data["results"]) == 5
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert {r["item_id"] for r in data["results"]} <= set(range(40))
    (assignment,) = data["assignments"]
    assert assignment["experiment"] in {"better", "worse", "aa"}
    exposures = await _stream(gateway, gateway.keys.shard(0).exposures)
    assert [e["search_id"] for e in exposures] == [data["search_id"]]
    assert exposures[0]["assignments"] == data["assignments"]
    assert exposures[0]["items"] == [r["item_id"] for r in data["results"]]


async def test_the_same_user_always_gets_the_same_variant_and_ranking(client: TestClient) -> None:
    body = {
        "user_id": "sticky",
        "query": "wireless headphones",
        "candidates": list(range(100, 130)),
    }
    pages = [await (await client.post("/v1/search", json=body)).json() for _ in range(5)]
    assert len({orjson.dumps(p["assignments"]) for p in pages}) == 1
    assert len({orjson.dumps([r["item_id"] for r in p["results"]]) for p in pages}) == 1


async def test_events_are_acknowledged_and_streamed(client: TestClient, gateway: Gateway) -> None:
    event = {
        "event_id": "e1",
        "type": "purchase",
        "search_id": gateway.search_ids.issue("u"),
        "user_id": "u",
        "item_id": 3,
        "position": 0,
        "value": 19.5,
        "ts": 1.7e9,
    }
    response = await client.post(
        "/v1/events", json={"events": [event, event | {"event_id": "e2", "type": "click"}]}
    )
    assert response.status == 202 and (await response.json()) == {"accepted": 2}
    stored = await _stream(gateway, gateway.keys.shard(0).outcomes)
    assert [e["event_id"] for e in stored] == ["e1", "e2"] and stored[0]["value"] == 19.5


async def test_a_purchase_at_checkout_needs_no_search_id(
    client: TestClient, gateway: Gateway
) -> None:
    """The worker attributes it from the user's exposures; a search id sent is still checked."""
    purchase = {"event_id": "c1", "type": "purchase", "user_id": "u", "item_id": "SKU-7"}
    response = await client.post("/v1/events", json=purchase | {"value": 42.5})
    assert response.status == 202
    (stored,) = await _stream(gateway, gateway.keys.shard(0).outcomes)
    assert (stored["search_id"], stored["user_id"], stored["value"]) == ("", "u", 42.5)
    forged = await client.post("/v1/events", json=purchase | {"search_id": "s-1"})
    assert forged.status == 400


async def test_health_and_readiness(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await (await client.get("/readyz")).json()
    assert ready["ready"] and {"prod-v1", "cand-v2", "worse-v0"} <= set(ready["models"])


async def test_not_ready_while_production_is_not_loaded(
    client: TestClient, gateway: Gateway
) -> None:
    await gateway.registry.remove("prod-v1")  # as if it were still loading
    response = await client.get("/readyz")
    assert response.status == 503
    assert "production 'prod-v1' is not loaded" in (await response.json())["why"]
    gateway.follower.kick()  # the follower loads what production needs again
    for _ in range(100):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.05)
    assert "prod-v1" in gateway.registry.versions


async def _exposures_of(gw: Gateway, user: str) -> list[dict]:
    return [e for e in await _stream(gw, gw.keys.for_user(user).exposures) if e["user_id"] == user]


async def test_a_sampled_share_of_exposures_carries_the_shown_items_features(
    client: TestClient, gateway: Gateway
) -> None:
    """Feature logging: with a share of 1, every exposure carries the features of its shown
    items (page order, names as sent), at most the configured count of numbers."""
    from dataclasses import replace

    gateway.settings = replace(gateway.settings, feature_log_share=1.0, feature_log_max_values=9)
    candidates = [f"SKU-{i}" for i in range(6)]
    body = {
        "user_id": "u-log",
        "query": "tent",
        "k": 4,
        "candidates": candidates,
        "features": {"bm25": [float(i) for i in range(6)], "ctr": [i / 10 for i in range(6)]},
    }
    response = await client.post("/v1/search", json=body)
    assert response.status == 200, await response.text()
    shown = [r["item_id"] for r in (await response.json())["results"]]
    (exposure,) = await _exposures_of(gateway, "u-log")
    assert exposure["items"] == shown
    logged = exposure["features"]
    assert logged["names"] == ["bm25", "ctr"]
    assert exposure["query"] == "tent" and exposure["context"] == {}
    # 9 numbers at most: the top 4 rows of 2 features would be 8.
    expected = [[float(candidates.index(s)), round(candidates.index(s) / 10, 6)] for s in shown]
    assert [[round(x, 6) for x in row] for row in logged["values"]] == expected
    gateway.settings = replace(gateway.settings, feature_log_max_values=5)
    await client.post("/v1/search", json=body | {"user_id": "u-log2"})
    (exposure,) = await _exposures_of(gateway, "u-log2")
    assert len(exposure["features"]["values"]) == 2  # the top rows that fit
    gateway.settings = replace(gateway.settings, feature_log_share=0.0)
    await client.post("/v1/search", json=body | {"user_id": "u-log3"})
    (exposure,) = await _exposures_of(gateway, "u-log3")
    assert "features" not in exposure
