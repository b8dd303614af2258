"""POST /v1/search for users in interleaved experiments: one page merged by team draft from
every variant's ranking, its seed and teams in the exposure, and a page that re-derives."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.http.api_answers import SearchAnswer
from gateway.http.state import Gateway
from gateway.interleave.team_draft import team_draft
from gateway.schema import parse_search
from gateway.settings import Settings
from tests.conftest import TEST_CONFIGS
from tests.http.test_admin_hardening import _BrokenSession


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, routing_file=TEST_CONFIGS / "interleaving.toml")


def _user_in(gw: Gateway, key: str) -> str:
    for i in range(10_000):
        route = gw.router.route(f"user-{i}")
        if route.assignments and route.assignments[0].experiment == key:
            return f"user-{i}"
    raise AssertionError(f"no user in {key}")


async def _exposures(gw: Gateway) -> list[dict[str, Any]]:
    for _ in range(100):
        if gw.sink.buffered == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    return [orjson.loads(f[b"e"]) for _, f in await gw.redis.xrange(gw.keys.shard(0).exposures)]


def _body(user: str, k: int = 10) -> dict[str, Any]:
    return {
        "user_id": user,
        "query": "waterproof shoes",
        "candidates": list(range(500, 560)),
        "k": k,
    }


@pytest.mark.parametrize("key", ["il", "ml"])
async def test_the_page_is_the_team_draft_of_every_variant(
    client: TestClient, gateway: Gateway, key: str
) -> None:
    user = _user_in(gateway, key)
    body = _body(user)
    response = await client.post("/v1/search", json=body)
    assert response.status == 200, await response.text()
    data = await response.json()
    # The hot path builds its answer by hand: it is still the documented type.
    assert msgspec.json.decode(await response.read(), type=SearchAnswer).model_version == (
        "interleaved"
    )
    assert data["assignments"][0]["experiment"] == key
    assert data["assignments"][0]["variant"] == "interleaved"
    page = [r["item_id"] for r in data["results"]]
    assert len(page) == 10 and len(set(page)) == 10
    (exposure,) = await _exposures(gateway)
    assert exposure["items"] == page and exposure["model_version"] == "interleaved"
    merged = exposure["interleaving"]
    experiment = gateway.router.config.experiment(key)
    assert merged["versions"] == [v.model_version for v in experiment.variants]
    assert merged["credit"] == "click"
    # The logged seed and the versions' own rankings re-derive the page, slot for slot.
    query = parse_search(orjson.dumps(body))
    rankings, scored = [], []
    for version in merged["versions"]:
        model = gateway.registry.get(version)
        scores = await model.rank(query.query, query.candidates, query.features, query.context)
        rankings.append([query.candidates[i] for i in np.argsort(-scores, kind="stable")])
        scored.append({c: float(x) for c, x in zip(query.candidates, scores, strict=True)})
    again = team_draft(rankings, 10, merged["seed"])
    assert list(again.items) == page
    assert list(again.teams) == merged["teams"]
    assert list(again.competitive) == merged["competitive"]
    assert set(merged["teams"]) == set(range(len(merged["versions"])))
    # Each slot shows the score its own team gave it.
    shown = [r["score"] for r in data["results"]]
    assert shown == pytest.approx(
        [scored[t][item] for item, t in zip(page, merged["teams"], strict=True)]
    )


async def test_an_a_i_test_has_no_competitive_slot(client: TestClient, gateway: Gateway) -> None:
    response = await client.post("/v1/search", json=_body(_user_in(gateway, "ai")))
    assert response.status == 200
    (exposure,) = await _exposures(gateway)
    merged = exposure["interleaving"]
    assert merged["versions"] == ["prod-v1", "prod-v1"]
    assert merged["competitive"] == [False] * 10  # the same ranking twice: the teams are luck


async def test_a_failing_variant_serves_production_alone_and_counts_against_it(
    client: TestClient, gateway: Gateway
) -> None:
    user = _user_in(gateway, "ml")
    gateway.registry.get("worse-v0").session = _BrokenSession()
    response = await client.post("/v1/search", json=_body(user, 5))
    assert response.status == 200, await response.text()
    data = await response.json()
    production = gateway.registry.get("prod-v1")
    query = parse_search(orjson.dumps(_body(user, 5)))
    scores = await production.rank(query.query, query.candidates, query.features, query.context)
    expected = [query.candidates[i] for i in np.argsort(-scores, kind="stable")[:5]]
    assert [r["item_id"] for r in data["results"]] == expected
    (exposure,) = await _exposures(gateway)
    assert exposure["interleaving"] is None and exposure["model_version"] == "prod-v1"
    assert data["assignments"][0]["variant"] == "interleaved"  # the user stays in (ITT)
    await gateway.ops.flush()
    raw = await gateway.redis.hgetall(gateway.keys.ops("ml"))
    counts = {k.decode(): int(v) for k, v in raw.items()}
    assert counts["worse:errors"] == 1 and counts["worse:requests"] == 1
    assert counts["production:requests"] == 1 and "production:errors" not in counts
