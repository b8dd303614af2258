"""PATCH /v1/experiments/{key}: validated, atomic, audited, applied."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from tests.tokens import auth

AUTH = auth("alice")


async def test_patch_applies_audits_and_serves_the_new_split(
    client: TestClient, gateway: Gateway
) -> None:
    version_before = gateway.router.version
    response = await client.patch(
        "/v1/experiments/better",
        json={"weights": {"control": 0.0, "candidate": 1.0}, "coverage": 0.9, "reason": "ramp"},
        headers=AUTH,
    )
    assert response.status == 200, await response.text()
    data = await response.json()
    assert data["version"] == version_before + 1
    assert {d["path"] for d in data["diff"]} == {
        "experiments['better'].coverage",
        "experiments['better'].variants['control'].weight",
        "experiments['better'].variants['candidate'].weight",
        "experiments['better'].phases",  # new weights: a new phase
    }
    assert gateway.router.config.experiment("better").phase == 1
    assert gateway.router.version == data["version"]
    entry = (await (await client.get("/v1/audit?count=1", headers=auth("vera"))).json())["entries"][
        0
    ]
    assert (entry["actor"], entry["reason"], entry["version"]) == ("alice", "ramp", data["version"])
    # Everyone in the experiment now gets the candidate.
    variants = set()
    for i in range(300):
        page = await (
            await client.post(
                "/v1/search", json={"user_id": f"u{i}", "query": "tent", "candidates": [1, 2, 3]}
            )
        ).json()
        variants |= {a["variant"] for a in page["assignments"] if a["experiment"] == "better"}
    assert variants == {"candidate"}


async def test_a_no_op_patch_changes_no_version(client: TestClient, gateway: Gateway) -> None:
    before = gateway.router.version
    response = await client.patch("/v1/experiments/aa", json={"coverage": 1.0}, headers=AUTH)
    assert response.status == 200 and (await response.json())["diff"] == []
    assert gateway.router.version == before


async def test_experiment_view_and_models(client: TestClient) -> None:
    data = await (await client.get("/v1/experiments/better", headers=auth("vera"))).json()
    assert data["key"] == "better" and data["stats"] == {} and data["last_evaluation"] is None
    models = (await (await client.get("/v1/models", headers=auth("vera"))).json())["models"]
    assert {m["version"] for m in models} >= {"prod-v1", "cand-v2", "worse-v0"}
