"""A fourth ranker, built with torch inside the test, that reads per-candidate features and
request context: declared in its card, checked against its signature, gated on the
evaluation set's features, made production, and served searches that carry features."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import phase_stats_id
from gateway.http.state import Gateway
from gateway.ops import meter
from tests.http.test_models import AUTH, register, wait_for


def _build(path: Path) -> None:
    import torch
    from torch import nn

    class FeatureRanker(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 1)
            self.item_bias = nn.Embedding(3001, 1)
            with torch.no_grad():
                # The retrieval features: category match, brand match, standardised log price.
                self.linear.weight.copy_(torch.tensor([[2.5, 1.5, -0.1]]))
                self.linear.bias.zero_()
                self.item_bias.weight.zero_()

        def forward(
            self, item_index: torch.Tensor, features: torch.Tensor, ctx: torch.Tensor
        ) -> torch.Tensor:
            score = self.linear(features).squeeze(-1) + self.item_bias(item_index).squeeze(-1)
            return score + 0.01 * ctx[:, 0]

    model = FeatureRanker().eval()
    example = (torch.zeros(2, dtype=torch.long), torch.zeros(2, 3), torch.zeros(2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["item_index", "features", "ctx"],
            output_names=["score"],
            dynamic_axes={
                "item_index": {0: "n"},
                "features": {0: "n"},
                "ctx": {0: "n"},
                "score": {0: "n"},
            },
            dynamo=False,
            opset_version=17,
        )


@pytest.fixture(scope="module")
def feature_model(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("byo") / "ranker.onnx"
    _build(path)
    return path.read_bytes()


CARD: dict[str, Any] = {
    "version": "features-v1",
    "description": "linear in the retrieval features",
    "inputs": [
        {"name": "item_index", "source": "item_ids", "num_items": 3000},
        {"name": "features", "source": "candidate_features", "dim": 3},
        {"name": "ctx", "source": "context", "keys": ["mobile"]},
    ],
    "output": "score",
    "parent": "prod-v1",
    "dataset": {"id": "hand-set-weights"},
}


async def test_a_ranker_with_features_is_registered_gated_and_served(
    client: TestClient, gateway: Gateway, feature_model: bytes
) -> None:
    # A declaration that does not match the graph is refused, naming the input.
    wrong = json.loads(json.dumps(CARD))
    wrong["inputs"][1]["dim"] = 4
    refused = await register(client, wrong, feature_model)
    assert refused.status == 422
    assert (
        "card.inputs[1] 'features': declared width 4" in (await refused.json())["error"]["message"]
    )

    assert (await register(client, CARD, feature_model)).status == 202
    card = await wait_for(client, "features-v1", lambda c: c["state"] != "gating")
    gates = {r["gate"]: r for r in card["gates"]["results"]}
    assert gates["sanity"]["passed"], gates["sanity"]
    # Its card names a dataset nobody registered: the record says what ran instead.
    assert card["gates"]["dataset"]["chosen_by"] == "file"
    assert (
        "the card's dataset 'hand-set-weights' is not registered"
        in (card["gates"]["dataset"]["note"])
    )
    assert (
        gates["offline_quality"]["figures"]["ndcg_at_10"] > 0.4
    )  # scored with the eval set's features
    if not card["usable"]:
        response = await client.post(
            "/v1/models/features-v1/override", json={"reason": "test"}, headers=AUTH
        )
        assert response.status == 200
    await wait_for(client, "features-v1", lambda c: bool(c["loaded_by"]))
    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    response = await client.put(
        "/v1/production", json={"version": "features-v1", "reason": "byo"}, headers=AUTH
    )
    assert response.status == 200, await response.text()

    search = {
        "user_id": "u1",
        "query": "tent",
        "context": {"mobile": True},
        "candidates": [
            {"id": 5, "features": [0.0, 0.0, 0.1]},
            {"id": 6, "features": [1.0, 1.0, 0.0]},
            {"id": 7, "features": [1.0, 0.0, 0.0]},
        ],
    }
    page = await (await client.post("/v1/search", json=search)).json()
    assert [r["item_id"] for r in page["results"]] == [6, 7, 5]
    # This production reads features: a request without them is told so.
    plain = await client.post(
        "/v1/search", json={"user_id": "u1", "query": "t", "candidates": [1, 2]}
    )
    assert plain.status == 400
    error = (await plain.json())["error"]
    assert error["where"] == "$.candidates" and "reads 3 features per candidate" in error["message"]
    ragged = dict(
        search, candidates=[{"id": 1, "features": [1.0]}, {"id": 2, "features": [1.0, 2.0]}]
    )
    response = await client.post("/v1/search", json=ragged)
    assert response.status == 400
    assert (await response.json())["error"]["where"] == "$.candidates[1].features"
    bad_context = dict(search, context={"mobile": "yes"})
    response = await client.post("/v1/search", json=bad_context)
    assert (
        response.status == 400 and (await response.json())["error"]["where"] == "$.context.mobile"
    )


NAMES = ["cat_match", "brand_match", "log_price"]


def _named(version: str, names: list[str]) -> dict[str, Any]:
    card = json.loads(json.dumps(CARD))
    card["version"] = version
    card["inputs"][0] = {
        "name": "item_index",
        "source": "item_ids",
        "vocabulary": {"SKU-6": 7, "SKU-7": 8},
        "oov_index": 0,
    }
    card["inputs"][1] = {"name": "features", "source": "candidate_features", "features": names}
    return card


async def _usable(client: TestClient, version: str) -> None:
    card = await wait_for(client, version, lambda c: c["state"] != "gating")
    if not card["usable"]:  # the deployment's evaluation set has no named features
        response = await client.post(
            f"/v1/models/{version}/override", json={"reason": "test"}, headers=AUTH
        )
        assert response.status == 200, await response.text()
    await wait_for(client, version, lambda c: bool(c["loaded_by"]))


async def test_versions_reading_different_named_features_serve_the_same_searches(
    client: TestClient, gateway: Gateway, feature_model: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production reads three named features; a candidate reads two of them and one the
    storefront does not send: starting it is refused (409 naming the feature) unless told to
    go on, and its arm's searches are then served by production and counted against it."""
    assert (await register(client, _named("named-a", NAMES), feature_model)).status == 202
    fresh = ["brand_match", "cat_match", "freshness"]
    assert (await register(client, _named("named-b", fresh), feature_model)).status == 202
    for version in ("named-a", "named-b"):
        await _usable(client, version)
    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    response = await client.put(
        "/v1/production", json={"version": "named-a", "reason": "named"}, headers=AUTH
    )
    assert response.status == 200, await response.text()

    def search(user: str, **extra: float) -> dict[str, Any]:
        rows = [(5, [0.0, 0.0, 0.1]), ("SKU-6", [1.0, 1.0, 0.0]), ("SKU-7", [1.0, 0.0, 0.0])]
        return {
            "user_id": user,
            "query": "tent",
            "context": {"mobile": True},
            "candidates": [
                # the names in any order on each candidate
                {"id": i, "features": dict(reversed(list(zip(NAMES, f, strict=True)))) | extra}
                for i, f in rows
            ],
        }

    page = await (await client.post("/v1/search", json=search("u1"))).json()
    assert [r["item_id"] for r in page["results"]] == ["SKU-6", "SKU-7", 5]
    columns = {
        "user_id": "u1",
        "query": "tent",
        "context": {"mobile": True},
        "candidates": [5, "SKU-6", "SKU-7"],
        "features": {
            n: [r[j] for r in ([0, 0, 0.1], [1, 1, 0], [1, 0, 0])] for j, n in enumerate(NAMES)
        },
    }
    same = await (await client.post("/v1/search", json=columns)).json()
    assert [r["item_id"] for r in same["results"]] == ["SKU-6", "SKU-7", 5]
    # Production lacking a feature is the storefront's error, named.
    partial = dict(columns, features={"cat_match": [0, 1, 1]})
    response = await client.post("/v1/search", json=partial)
    error = (await response.json())["error"]
    assert response.status == 400 and "'brand_match', 'log_price'" in error["message"], error
    await gateway.ops.flush()  # what the searches carried, as the once-a-second flush writes it
    monkeypatch.setattr(meter, "MIN_FEATURE_SEARCHES", 3)  # a handful of searches is evidence

    experiment = {
        "key": "fresh",
        "namespace_range": [0.0, 1.0],
        "min_units_per_arm": 100,
        "min_runtime_s": 0,
        "variants": [
            {"name": "control", "model_version": "named-a"},
            {"name": "candidate", "model_version": "named-b"},
        ],
    }
    response = await client.post("/v1/experiments", json=experiment, headers=AUTH)
    assert response.status == 201, await response.text()
    refused = await client.post("/v1/experiments/fresh/start", headers=AUTH)
    assert refused.status == 409
    message = (await refused.json())["error"]["message"]
    assert "version 'named-b' reads feature(s) too few of the last 24 h" in message
    assert "'freshness' (carried by 0% of 3 searches)" in message, message
    # Nor may it become production: every search lacking the feature would be refused.
    refused = await client.put(
        "/v1/production", json={"version": "named-b", "reason": "try"}, headers=AUTH
    )
    assert refused.status == 409
    assert "production 'named-b' would refuse searches (400)" in await refused.text()
    # One search carrying it is not enough: the share counts.
    await client.post("/v1/search", json=search("u2", freshness=0.5))
    await gateway.ops.flush()
    refused = await client.post("/v1/experiments/fresh/start", headers=AUTH)
    assert refused.status == 409
    assert "'freshness' (carried by 25% of 4 searches)" in await refused.text()
    bare = await client.post(
        "/v1/experiments/fresh/start", json={"ignore_missing_features": True}, headers=AUTH
    )
    assert bare.status == 400 and (await bare.json())["error"]["where"] == "$.reason"
    started = await client.post(
        "/v1/experiments/fresh/start",
        json={"ignore_missing_features": True, "reason": "freshness ships next week"},
        headers=AUTH,
    )
    assert started.status == 200, await started.text()

    await wait_for_config(gateway, "fresh")
    served: dict[str, int] = {}
    for i in range(40):
        response = await client.post("/v1/search", json=search(f"user-{i}"))
        assert response.status == 200, await response.text()
        page = await response.json()
        arm = page["assignments"][0]["variant"]
        assert [r["item_id"] for r in page["results"]] == ["SKU-6", "SKU-7", 5]
        assert page["model_version"] == "named-a"  # production ranked every page
        served[arm] = served.get(arm, 0) + 1
    assert served.get("candidate", 0) > 5 and served.get("control", 0) > 5
    stats_id = phase_stats_id("fresh", gateway.router.config.experiment("fresh").phase)
    await gateway.ops.flush()
    ops = await gateway.redis.hgetall(gateway.keys.ops(stats_id))
    assert int(ops[b"candidate:errors"]) == served["candidate"]
    assert int(ops[b"candidate:missing"]) == served["candidate"]
    # With the feature sent, the candidate ranks its own searches.
    for i in range(10):
        response = await client.post("/v1/search", json=search(f"user-{i}", freshness=1.0))
        assert response.status == 200
    await gateway.ops.flush()
    ops = await gateway.redis.hgetall(gateway.keys.ops(stats_id))
    assert int(ops[b"candidate:errors"]) == served["candidate"]


async def wait_for_config(gateway: Gateway, key: str) -> None:
    import asyncio

    for _ in range(100):
        if gateway.router.config.has(key) and gateway.router.config.experiment(key).running:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} not running in the router")
