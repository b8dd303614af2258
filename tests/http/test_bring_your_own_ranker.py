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

from gateway.http.state import Gateway
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
