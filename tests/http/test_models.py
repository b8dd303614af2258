"""The model registry over HTTP with real ONNX files: register → gates → loaded → usable;
every bad upload a clear 4xx that changes nothing; retire and restore; override a failed gate."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from tests.models.hostile import never_ending_card, never_ending_model, wrong_inputs_model
from tests.tokens import audited_changes, auth

AUTH = auth("bob")


def card_of(models_dir: Path, demo: str, version: str, **changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((models_dir / demo / "card.json").read_text())
    return card | {"version": version} | changes


def form(card: Any, model: bytes | None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    if card is not None:
        raw = card if isinstance(card, bytes) else json.dumps(card).encode()
        data.add_field(
            "card", io.BytesIO(raw), filename="card.json", content_type="application/json"
        )
    if model is not None:
        data.add_field(
            "model", model, filename="model.onnx", content_type="application/octet-stream"
        )
    return data


async def register(client: TestClient, card: Any, model: bytes | None) -> Any:
    return await client.post("/v1/models", data=form(card, model), headers=AUTH)


async def wait_for(
    client: TestClient, version: str, check: Any, limit_s: float = 60.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        card: dict[str, Any] = await (
            await client.get(f"/v1/models/{version}", headers=auth("vera"))
        ).json()
        if check(card):
            return card
        assert loop.time() < deadline, card
        await asyncio.sleep(0.1)


async def _snapshot(gateway: Gateway) -> tuple[Any, ...]:
    cards: Any = await gateway.redis.hgetall(gateway.keys.models)
    incoming = gateway.artifacts.root / "incoming"
    return (
        cards,
        len(await audited_changes(gateway.redis, gateway.keys)),
        sorted(p.name for p in incoming.glob("*")) if incoming.exists() else [],
    )


async def test_register_gate_load_and_serve(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    response = await register(
        client, card_of(models_dir, "cand-v2", "cand-v3", notes="retrained"), onnx
    )
    assert response.status == 202, await response.text()
    created = await response.json()
    assert created["state"] == "gating" and created["registered_by"] == "bob"
    assert len(created["sha256"]) == 64 and created["size_bytes"] == len(onnx)
    assert [i["name"] for i in created["signature"]["inputs"]] == ["query_tokens", "item_index"]
    card = await wait_for(client, "cand-v3", lambda c: c["state"] != "gating" and c["loaded_by"])
    assert card["state"] == "passed" and card["usable"], card["gates"]
    gates = {r["gate"]: r for r in card["gates"]["results"]}
    assert set(gates) == {"integrity", "sanity", "offline_quality", "latency", "consistency"}
    assert card["gates"]["against"] == "prod-v1"
    assert (
        gates["offline_quality"]["figures"]["ndcg_at_10"]
        > gates["offline_quality"]["figures"]["production_ndcg_at_10"]
    )
    assert 0 < gates["consistency"]["figures"]["overlap_at_10"] < 1
    assert "cand-v3" in gateway.registry.versions
    # The same bytes again are a no-op; other bytes under the id are refused.
    again = await register(client, card_of(models_dir, "cand-v2", "cand-v3"), onnx)
    assert again.status == 200 and (await again.json())["created"] is False
    audit = (await (await client.get("/v1/audit?count=5", headers=auth("vera"))).json())["entries"]
    reasons = [e["reason"] for e in audit if e.get("model") == "cand-v3"]
    assert reasons[:2] == ["gates passed", "registered"]
    # It can be production now.
    response = await client.put(
        "/v1/production", json={"version": "cand-v3", "reason": "ship"}, headers=AUTH
    )
    assert response.status == 200, await response.text()


async def test_bad_uploads_are_refused_and_change_nothing(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "prod-v1" / "model.onnx").read_bytes()
    good = card_of(models_dir, "prod-v1", "fresh-v1")
    renamed = json.loads(json.dumps(good))
    renamed["inputs"][1]["name"] = "items"
    widened = json.loads(json.dumps(good))
    widened["inputs"][0]["tokenizer"]["max_tokens"] = 9
    before = await _snapshot(gateway)
    cases = [
        (good, b"\x08\x01garbage that is not a model", 422, "not a loadable ONNX model"),
        (good, onnx[: len(onnx) // 2], 422, "not a loadable ONNX model"),
        (renamed, onnx, 422, "card.inputs[1] 'items': the model has no input named 'items'"),
        (widened, onnx, 422, "card.inputs[0] 'query_tokens': declared width 9"),
        (
            card_of(models_dir, "cand-v2", "prod-v1"),
            (models_dir / "cand-v2" / "model.onnx").read_bytes(),
            409,
            "immutable",
        ),
        (good | {"version": "bad id!"}, onnx, 422, "card.version"),
        (good | {"colour": 1}, onnx, 422, "card.colour: unknown field"),
        (b"{not json", onnx, 400, "card: not JSON"),
        (good | {"notes": "x" * 70_000}, onnx, 413, "card: over 65536 bytes"),
        (good | {"notes": "x" * 3_000}, onnx, 422, "card.notes: expected a string of at most 2000"),
        (None, onnx, 400, "card: the 'card' part"),
        (good, None, 400, "model: the 'model' part"),
    ]
    for card, model, status, text in cases:
        response = await register(client, card, model)
        assert response.status == status, (text, await response.text())
        error = (await response.json())["error"]
        assert text in f"{error.get('where', '')}: {error['message']}", error
    refused = [
        await client.post("/v1/models", json={"version": "x"}, headers=AUTH),
        await client.post("/v1/models", data=form(good, onnx)),
    ]
    assert [r.status for r in refused] == [415, 401]
    assert await _snapshot(gateway) == before


async def test_oversized_upload_is_refused(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    gateway.settings = replace(gateway.settings, max_model_bytes=100_000)
    before = await _snapshot(gateway)
    onnx = (models_dir / "prod-v1" / "model.onnx").read_bytes()
    response = await register(client, card_of(models_dir, "prod-v1", "big-v1"), onnx)
    assert response.status == 413
    assert "over 100000 bytes" in (await response.json())["error"]["message"]
    assert await _snapshot(gateway) == before


async def test_failed_gate_blocks_traffic_until_an_audited_override(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "worse-v0" / "model.onnx").read_bytes()
    assert (await register(client, card_of(models_dir, "worse-v0", "worse-v1"), onnx)).status == 202
    card = await wait_for(client, "worse-v1", lambda c: c["state"] != "gating")
    assert card["state"] == "failed" and not card["usable"]
    failed = [r for r in card["gates"]["results"] if not r["passed"]]
    assert [r["gate"] for r in failed] == ["offline_quality"]
    experiment = {
        "key": "try-worse",
        "namespace_range": [0.0, 0.1],
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "worse-v1", "weight": 0.5},
        ],
    }
    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    assert (await client.post("/v1/experiments", json=experiment, headers=AUTH)).status == 201
    refused = await client.post("/v1/experiments/try-worse/start", headers=AUTH)
    assert refused.status == 422
    message = (await refused.json())["error"]["message"]
    assert "failed its gates (offline_quality: NDCG@10" in message
    production = await client.put(
        "/v1/production", json={"version": "worse-v1", "reason": "x"}, headers=AUTH
    )
    assert production.status == 422
    override = await client.post(
        "/v1/models/worse-v1/override", json={"reason": "try it anyway"}, headers=AUTH
    )
    assert override.status == 200, await override.text()
    await wait_for(client, "worse-v1", lambda c: bool(c["loaded_by"]))
    started = await client.post("/v1/experiments/try-worse/start", headers=AUTH)
    assert started.status == 200, await started.text()
    audit = (await (await client.get("/v1/audit?count=10", headers=auth("vera"))).json())["entries"]
    assert any(
        e["reason"] == "gates overridden: try it anyway" and e["actor"] == "bob" for e in audit
    )


async def _refused_retire(client: TestClient, version: str) -> str:
    """A retire refused with 409 (its message), the card left as it was."""
    before = await (await client.get(f"/v1/models/{version}", headers=AUTH)).json()
    refused = await client.delete(f"/v1/models/{version}", json={"reason": "x"}, headers=AUTH)
    assert refused.status == 409, await refused.text()
    after = await (await client.get(f"/v1/models/{version}", headers=AUTH)).json()
    assert after["retired"] is False and after == before
    message: str = (await refused.json())["error"]["message"]
    return message


async def test_retire_and_restore(client: TestClient, gateway: Gateway, models_dir: Path) -> None:
    # A version in use is not retired; the refusal names where it is used and what frees it.
    message = await _refused_retire(client, "prod-v1")
    assert message.startswith("model version 'prod-v1' is in use (production, experiment:better")
    assert "make another version production" in message
    message = await _refused_retire(client, "cand-v2")
    assert "is in use (experiment:better)" in message
    assert "stop or archive the experiment first" in message
    models = (await (await client.get("/v1/models", headers=auth("vera"))).json())["models"]
    in_use = {m["version"]: m["in_use_by"] for m in models}
    assert in_use["prod-v1"] == ["production", "experiment:better", "experiment:worse",
                                 "experiment:aa"]  # fmt: skip
    assert in_use["cand-v2"] == ["experiment:better"]
    assert (await client.delete("/v1/models/nope-v1", headers=AUTH)).status == 404
    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    await register(client, card_of(models_dir, "cand-v2", "spare-v1"), onnx)
    await wait_for(client, "spare-v1", lambda c: bool(c["loaded_by"]))
    # In shadow, then not: the shadow holds it until it is stopped.
    shadow = await client.put("/v1/shadow/spare-v1", json={"share": 0.5}, headers=AUTH)
    assert shadow.status == 200, await shadow.text()
    await wait_for(client, "spare-v1", lambda c: c["in_use_by"] == ["shadow:spare-v1"])
    message = await _refused_retire(client, "spare-v1")
    assert "is in use (shadow:spare-v1); stop its shadow first" in message
    stopped = await client.delete("/v1/shadow/spare-v1", headers=AUTH)
    assert stopped.status == 200, await stopped.text()
    await wait_for(client, "spare-v1", lambda c: c["in_use_by"] == [])
    retired = await client.delete(
        "/v1/models/spare-v1", json={"reason": "superseded"}, headers=AUTH
    )
    assert retired.status == 200 and (await retired.json())["retired"] is True
    await wait_for(client, "spare-v1", lambda c: not c["loaded_by"])
    assert "spare-v1" not in gateway.registry.versions
    assert gateway.artifacts.path((await retired.json())["sha256"]).exists()  # kept on disk
    restored = await register(client, card_of(models_dir, "cand-v2", "spare-v1"), onnx)
    assert restored.status == 200 and (await restored.json())["retired"] is False
    await wait_for(client, "spare-v1", lambda c: bool(c["loaded_by"]))
    raw: Any = await gateway.redis.hget(gateway.keys.models, "spare-v1")
    stored = orjson.loads(raw)
    assert stored["state"] == "passed"


async def test_a_version_left_gating_by_a_dead_process_is_gated_again(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    import time

    from gateway.models.card import ModelCard, read_declaration

    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    sha, _ = gateway.artifacts.put_bytes(onnx)
    declaration = replace(
        read_declaration(models_dir / "cand-v2" / "card.json"), version="orphan-v1"
    )
    # Registered ten minutes ago by a process that died before its gates ran.
    card = ModelCard(declaration, sha, len(onnx), {}, "bob", time.time() - 600)
    assert await gateway.model_store.register(card, "bob", "registered")
    gated = await wait_for(client, "orphan-v1", lambda c: c["state"] != "gating")
    assert gated["state"] == "passed"
    audit = (await (await client.get("/v1/audit?count=5", headers=auth("vera"))).json())["entries"]
    assert any(e.get("model") == "orphan-v1" and e["actor"] == "gate-takeover" for e in audit)


async def test_an_unreadable_evaluation_set_fails_the_gate_and_says_why(
    client: TestClient, gateway: Gateway, models_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "eval.jsonl"
    bad.write_text('{"query": "tent", "candidates": [{"id": 1, "grade": "high"}]}\n')
    gateway.registrar.eval_path = bad
    gateway.registrar._eval_set = None  # as a process started with ABGATE_EVAL_FILE=eval.jsonl
    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    assert (await register(client, card_of(models_dir, "cand-v2", "eval-v1"), onnx)).status == 202
    card = await wait_for(client, "eval-v1", lambda c: c["state"] != "gating")
    assert card["state"] == "failed"
    (result,) = card["gates"]["results"]
    assert "line 1: $.candidates[0].grade: expected an integer in [0, 10]" in result["detail"]


async def test_a_part_with_a_malformed_header_is_a_400(
    client: TestClient, gateway: Gateway
) -> None:
    """Found by the property-based API test: aiohttp raises its own parser error (not a
    ValueError) for a part header with a control character; it was a 500."""
    before = await _snapshot(gateway)
    body = b'--b\r\nContent-Disposition: form-data; name="\x08"\r\n\r\nx\r\n--b--\r\n'
    response = await client.post(
        "/v1/models",
        data=body,
        headers=AUTH | {"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status == 400, await response.text()
    assert "malformed multipart body" in (await response.json())["error"]["message"]
    assert await _snapshot(gateway) == before


# An absolute path: a '/' led run of at least two components (the API's own URL paths are
# not in these texts).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[\w.~-]+/")


def disclosed(text: str) -> list[str]:
    """The absolute paths and the process id (this one serves the test's gateway) in ``text``."""
    return ABSOLUTE_PATH.findall(text) + re.findall(rf"\b{os.getpid()}\b", text)


async def test_broken_and_hostile_models_are_told_apart_without_naming_server_paths(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "prod-v1" / "model.onnx").read_bytes()
    good = card_of(models_dir, "prod-v1", "broken-v1")
    for card, model, text in (
        (good, b"\x08\x01garbage that is not a model", "not a loadable ONNX model"),
        (good, onnx[: len(onnx) // 3], "not a loadable ONNX model"),
        (never_ending_card("broken-v1"), wrong_inputs_model(), "no input named 'item_index'"),
    ):
        response = await register(client, card, model)
        body = await response.text()
        assert response.status == 422 and text in body, body
        assert disclosed(body) == [], body
    # A model that registers (it loads, as declared) and never finishes scoring: its gates
    # fail at the deadline, and neither they nor the audit trail name a path or a process.
    gateway.registrar.gate_timeout_s = 3.0
    response = await register(client, never_ending_card("forever-v1"), never_ending_model())
    assert response.status == 202, await response.text()
    card = await wait_for(client, "forever-v1", lambda c: c["state"] != "gating")
    assert card["state"] == "failed"
    (result,) = card["gates"]["results"]
    assert result["gate"] == "sanity"
    assert result["detail"].startswith("gates did not finish within 3 s"), result
    listing = await (await client.get("/v1/models", headers=auth("vera"))).json()
    gates = [c["gates"] for c in listing["models"]]
    assert {g["dataset"]["source"] for g in gates if "dataset" in g} == {"storefront-heldout.jsonl"}
    assert disclosed(json.dumps(gates)) == []
    audit = (await (await client.get("/v1/audit?count=50", headers=auth("vera"))).json())["entries"]
    assert [e["reason"] for e in audit if e.get("model") == "forever-v1"] == [
        "gates failed: sanity: " + result["detail"],
        "registered",
    ]
    assert disclosed(json.dumps([e["reason"] for e in audit])) == []
