"""PATCH /v1/experiments/{key}: validated, atomic, audited, applied; the chart marks the ramp
steps and phases it made."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest
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


async def test_audit_entries_name_their_subjects_and_filter_by_them(
    client: TestClient, gateway: Gateway
) -> None:
    async def audit(query: str, status: int = 200) -> dict[str, Any]:
        response = await client.get(f"/v1/audit?{query}", headers=auth("vera"))
        assert response.status == status, await response.text()
        data: dict[str, Any] = await response.json()
        return data

    first = (await audit("count=1"))["entries"][0]  # the seed
    assert {"experiment:better", "experiment:aa"} <= set(first["subjects"])
    patched = await client.patch(
        "/v1/experiments/aa", json={"coverage": 0.5, "reason": "half"}, headers=AUTH
    )
    assert patched.status == 200, await patched.text()
    moved = await client.put(
        "/v1/production", json={"version": "cand-v2", "reason": "ship"}, headers=auth("dave")
    )
    assert moved.status == 200, await moved.text()
    newest = (await audit("count=10"))["entries"]
    assert [e["subjects"] for e in newest[:2]] == [["production"], ["experiment:aa"]]
    assert (await audit("subject=experiment:aa"))["entries"][0]["reason"] == "half"
    assert all(
        any(s.startswith("experiment:") for s in e["subjects"])
        for e in (await audit("subject=experiment:"))["entries"]
    )
    assert [e["reason"] for e in (await audit("actor=dave"))["entries"]] == ["ship"]
    ts = newest[0]["ts"]
    assert [e["reason"] for e in (await audit(f"since={ts}"))["entries"]] == ["ship"]
    assert "ship" not in [e["reason"] for e in (await audit(f"until={ts - 0.001}"))["entries"]]
    assert (await audit("subject=model:ghost"))["entries"] == []
    for query, where in (
        ("since=monday", "?since"),
        ("count=0", "?count"),
        ("subject=", "?subject"),
    ):
        error = (await audit(query, 400))["error"]
        assert error["where"] == where, error


async def test_the_chart_marks_the_ramp_steps_and_the_phase_changes(
    client: TestClient, gateway: Gateway
) -> None:
    """A coverage change is a ramp step (from the audit trail), a weight change a phase (from
    its start): each drawn where it happened, labelled."""
    history = gateway.keys.evaluation_history("better")
    point = {"phase": 0, "arms": [{"variant": "candidate", "scale": "relative", "estimate": 0.1,
                                   "ci_low": -0.2, "ci_high": 0.4, "significant": False}]}  # fmt: skip
    await gateway.redis.rpush(history, orjson.dumps(point | {"ts": time.time() - 5}))
    for body in ({"coverage": 0.25}, {"weights": {"control": 0.6, "candidate": 0.4}}):
        done = await client.patch(
            "/v1/experiments/better", json=body | {"reason": "r"}, headers=AUTH
        )
        assert done.status == 200, await done.text()
    await gateway.redis.rpush(history, orjson.dumps(point | {"ts": time.time() + 5, "phase": 1}))
    svg = await client.get("/v1/experiments/better/chart.svg", headers=auth("vera"))
    assert svg.status == 200, await svg.text()
    drawn = ET.fromstring(await svg.text())
    marks = [
        (line.get("class"), line.get("data-label"), float(line.get("data-ts") or "nan"))
        for line in drawn.iter("{http://www.w3.org/2000/svg}line")
        if line.get("data-label")
    ]
    entries = (await (await client.get("/v1/audit?count=2", headers=auth("vera"))).json())[
        "entries"
    ]
    view = await (await client.get("/v1/experiments/better", headers=auth("vera"))).json()
    assert [(kind, label) for kind, label, _ in marks] == [
        ("ramp", "ramp 25 %"),
        ("phase", "phase 1"),
    ]
    assert marks[0][2] == pytest.approx(entries[1]["ts"], abs=1e-3)
    assert marks[1][2] == pytest.approx(view["phases"][1]["started_at"], abs=1e-3)
