"""Evaluation datasets and the gates' policy over HTTP, with real Redis, real ONNX rankers and
gates in real child processes: upload (JSON lines and Parquet), immutable ids, bad files named;
the policy read, changed, validated and audited; a version that fails on a dataset lacking its
features passes once re-gated on one that carries them; the absolute latency budget."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main as cli
from gateway.http.state import Gateway
from tests.http.test_models import AUTH, register, wait_for
from tests.models.rankers import linear_card, linear_ranker
from tests.tokens import audited_changes, auth, token_of

FEATURES = ("bm25", "ctr_7d")


def rows(
    names: tuple[str, ...] = FEATURES, queries: int = 12, seed: int = 3
) -> list[dict[str, Any]]:
    """Queries of 20 SKUs whose grade rises with the sum of their features."""
    rng = np.random.default_rng(seed)
    lines = []
    for q in range(queries):
        values = rng.uniform(0.0, 1.0, (20, len(FEATURES)))
        grades = np.digitize(values.sum(axis=1), [0.6, 1.0, 1.4])
        lines.append(
            {
                "query": f"query {q}",
                "candidates": [
                    {
                        "id": f"SKU-{q}-{i}",
                        "grade": int(g),
                        "features": {
                            n: float(v) for n, v in zip(FEATURES, row, strict=True) if n in names
                        },
                    }
                    for i, (row, g) in enumerate(zip(values, grades, strict=True))
                ],
            }
        )
    return lines


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def parquet(lines: list[dict[str, Any]]) -> bytes:
    columns: dict[str, list[Any]] = {"query_id": [], "query": [], "item_id": [], "grade": []}
    for q, line in enumerate(lines):
        for c in line["candidates"]:
            for k, v in (
                ("query_id", q),
                ("query", line["query"]),
                ("item_id", c["id"]),
                ("grade", c["grade"]),
            ):
                columns[k].append(v)
            for n, v in c["features"].items():
                columns.setdefault(n, []).append(v)
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def dataset_form(meta: Any, file: bytes | None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    if meta is not None:
        raw = meta if isinstance(meta, bytes) else orjson.dumps(meta)
        data.add_field(
            "meta", io.BytesIO(raw), filename="meta.json", content_type="application/json"
        )
    if file is not None:
        data.add_field("file", file, filename="data", content_type="application/octet-stream")
    return data


async def upload(client: TestClient, meta: Any, file: bytes | None, who: str = "ed") -> Any:
    return await client.post("/v1/datasets", data=dataset_form(meta, file), headers=auth(who))


async def _snapshot(gateway: Gateway) -> tuple[Any, ...]:
    infos: Any = await gateway.redis.hgetall(gateway.keys.datasets)
    incoming = gateway.registrar.datasets.files.root / "incoming"
    return (
        infos,
        len(await audited_changes(gateway.redis, gateway.keys)),
        sorted(p.name for p in incoming.glob("*")) if incoming.exists() else [],
    )


async def test_datasets_upload_as_jsonl_or_parquet_with_immutable_ids(
    client: TestClient, gateway: Gateway
) -> None:
    lines = rows()
    created = await upload(
        client, {"id": "heldout-q4", "description": "held out", "reason": "new"}, jsonl(lines)
    )
    assert created.status == 201, await created.text()
    info = await created.json()
    assert info["created"] is True and info["created_by"] == "ed" and info["format"] == "jsonl"
    assert (info["queries"], info["candidates"], info["features"]) == (12, 240, list(FEATURES))
    assert gateway.registrar.datasets.files.path(info["sha256"]).exists()
    # The same content again, however formatted: a no-op. Other content: refused.
    again = await upload(client, {"id": "heldout-q4"}, jsonl(lines).replace(b"\n", b"\n\n"))
    assert again.status == 200 and (await again.json())["created"] is False
    changed = await upload(client, {"id": "heldout-q4"}, jsonl(rows(seed=4)))
    assert changed.status == 409
    assert "immutable" in (await changed.json())["error"]["message"]
    # The same content as Parquet: the same canonical form, the same sha256.
    as_parquet = await upload(client, {"id": "heldout-pq"}, parquet(lines))
    assert as_parquet.status == 201, await as_parquet.text()
    assert (await as_parquet.json())["format"] == "parquet"
    assert (await as_parquet.json())["sha256"] == info["sha256"]
    listing = await (await client.get("/v1/datasets", headers=auth("vera"))).json()
    assert [d["id"] for d in listing["datasets"]] == ["heldout-q4", "heldout-pq"]
    shown = await (await client.get("/v1/datasets/heldout-q4", headers=auth("vera"))).json()
    assert shown == {k: v for k, v in info.items() if k != "created"}
    assert (await client.get("/v1/datasets/nope", headers=auth("vera"))).status == 404
    audit = (await (await client.get("/v1/audit?count=5", headers=auth("vera"))).json())["entries"]
    entries = [e for e in audit if e.get("dataset") == "heldout-q4"]
    assert [(e["actor"], e["reason"]) for e in entries] == [("ed", "new")]
    assert entries[0]["diff"][0]["new"]["sha256"] == info["sha256"]


async def test_bad_dataset_uploads_are_refused_and_change_nothing(
    client: TestClient, gateway: Gateway
) -> None:
    good = jsonl(rows(queries=2))
    bad_grade = good + b'{"query": "q", "candidates": [{"id": "SKU-1", "grade": "high"}]}\n'
    no_grade = parquet(rows(queries=1)).replace(b"grade", b"grode")
    before = await _snapshot(gateway)
    cases = [
        ({"id": "d1"}, bad_grade, 400, "file: line 3: $.candidates[0].grade: expected an integer"),
        ({"id": "d1"}, b"\x00\x01 not json", 400, "file: line 1: $: not JSON"),
        ({"id": "d1"}, no_grade, 400, "column 'grade': missing"),
        ({"id": "bad id!"}, good, 400, "meta.id: expected `str` matching regex"),
        ({"id": "d1", "description": 5}, good, 400, "meta.description: expected `str`, got 5"),
        ({"id": "d1", "colour": 1}, good, 400, "meta.colour: unknown field"),
        (None, good, 400, "meta: the 'meta' part"),
        ({"id": "d1"}, None, 400, "file: the 'file' part"),
        (b"{not json", good, 400, "meta: not JSON"),
        ({"id": "d1"}, b"", 400, "file: the dataset file (JSON lines or Parquet) is empty"),
    ]
    for meta, file, status, text in cases:
        response = await upload(client, meta, file)
        assert response.status == status, (text, await response.text())
        error = (await response.json())["error"]
        assert text in f"{error.get('where', '')}: {error['message']}", error
    gateway.settings = replace(gateway.settings, max_dataset_bytes=1024)
    too_big = await upload(client, {"id": "d1"}, good)
    assert too_big.status == 413 and "over 1024 bytes" in await too_big.text()
    refused = [
        await client.post("/v1/datasets", json={"id": "d1"}, headers=AUTH),
        await upload(client, {"id": "d1"}, good, who="vera"),
    ]
    assert [r.status for r in refused] == [415, 403]
    assert await _snapshot(gateway) == before


async def test_gate_policy_is_read_changed_validated_and_audited(
    client: TestClient, gateway: Gateway
) -> None:
    shown = await (await client.get("/v1/gate-policy", headers=auth("vera"))).json()
    assert shown["stored"] is False
    assert shown["policy"]["latency_budget_ms"] == 50.0 and shown["policy"]["latency_ratio"] is None
    before = await audited_changes(gateway.redis, gateway.keys)
    for body, status, text in (
        ({"ndcg_margin": 2}, 400, "$.ndcg_margin: expected `float` <= 1.0, got 2"),
        ({"latency_ratio": 0.5}, 400, "$.latency_ratio: expected `float` >= 1.0, got 0.5"),
        (
            {"overlap_min": 0.9, "overlap_max": 0.2},
            422,
            "$.overlap_min: must be at most overlap_max",
        ),
        ({"colour": 1}, 400, "$.colour"),
        ({"dataset": "nope"}, 422, "$.dataset: dataset 'nope' is not registered"),
        ({"reason": "nothing"}, 400, "no field to change"),
    ):
        response = await client.put("/v1/gate-policy", json=body, headers=AUTH)
        assert response.status == status, (body, await response.text())
        error = (await response.json())["error"]
        assert text in f"{error.get('where', '')}: {error['message']}", error
    assert (
        await client.put("/v1/gate-policy", json={"latency_ratio": 3}, headers=auth("ed"))
    ).status == 403
    assert await audited_changes(gateway.redis, gateway.keys) == before
    changed = await client.put(
        "/v1/gate-policy",
        json={"latency_budget_ms": 80, "latency_ratio": 3, "reason": "GBDTs are slower"},
        headers=AUTH,
    )
    assert changed.status == 200, await changed.text()
    body = await changed.json()
    assert body["stored"] is True and body["policy"]["latency_budget_ms"] == 80.0
    assert body["diff"] == [
        {"path": "gate_policy.latency_budget_ms", "old": 50.0, "new": 80.0},
        {"path": "gate_policy.latency_ratio", "old": None, "new": 3.0},
    ]
    (entry,) = (await audited_changes(gateway.redis, gateway.keys))[len(before) :]
    assert (entry["actor"], entry["reason"], entry["diff"]) == (
        "bob",
        "GBDTs are slower",
        body["diff"],
    )
    assert (await gateway.registrar.policies.get()).latency_ratio == 3.0  # what a gate run reads


async def _gated(client: TestClient, version: str) -> dict[str, Any]:
    return await wait_for(client, version, lambda c: c["state"] != "gating")


async def test_a_version_failing_on_a_dataset_lacking_its_features_passes_after_a_regate(
    client: TestClient, gateway: Gateway
) -> None:
    assert (await upload(client, {"id": "thin"}, jsonl(rows(names=("bm25",))))).status == 201
    assert (await upload(client, {"id": "full"}, jsonl(rows()))).status == 201
    # Its card names the thin dataset: the gates run on it and fail, naming the feature.
    response = await register(
        client, linear_card("lin-v1", FEATURES, dataset="thin"), linear_ranker([1.0, 1.0])
    )
    assert response.status == 202, await response.text()
    failed = await _gated(client, "lin-v1")
    assert failed["state"] == "failed" and failed["gates"]["dataset"]["chosen_by"] == "card"
    sanity = {r["gate"]: r for r in failed["gates"]["results"]}["sanity"]
    assert (
        sanity["passed"] is False and "lacks feature(s) lin-v1 reads: 'ctr_7d'" in sanity["detail"]
    )
    # A re-gate on a dataset it cannot read either is refused, naming the feature.
    lacking = await client.post(
        "/v1/models/lin-v1/regate", json={"dataset": "thin"}, headers=auth("ed")
    )
    assert lacking.status == 400
    assert (
        "dataset 'thin' lacks feature(s) that model version 'lin-v1' reads: 'ctr_7d'"
        in await lacking.text()
    )
    assert (
        await client.post("/v1/models/lin-v1/regate", json={"dataset": "nope"}, headers=AUTH)
    ).status == 422
    # On one that carries them it passes; the failed results stay in the card's history.
    regate = await client.post(
        "/v1/models/lin-v1/regate",
        json={"dataset": "full", "reason": "now with ctr"},
        headers=auth("ed"),
    )
    assert regate.status == 202, await regate.text()
    assert (await regate.json())["state"] == "gating"
    busy = await client.post("/v1/models/lin-v1/regate", headers=AUTH)
    assert busy.status == 409 and "being gated" in await busy.text()
    passed = await _gated(client, "lin-v1")
    assert passed["state"] == "passed" and passed["usable"], passed["gates"]
    assert passed["gates"]["dataset"]["source"] == "full"
    assert passed["gates"]["dataset"]["chosen_by"] == "regate"
    assert [g["passed"] for g in passed["gates_history"]] == [False]
    gates = {r["gate"]: r for r in passed["gates"]["results"]}
    assert gates["offline_quality"]["figures"]["compared"] is True  # prod-v1 reads no features
    assert gates["latency"]["figures"]["candidates"] == 200
    assert gates["latency"]["figures"]["p99_ms"] <= 50.0
    audit = (await (await client.get("/v1/audit?count=20", headers=auth("vera"))).json())["entries"]
    reasons = [(e["actor"], e["reason"]) for e in audit if e.get("model") == "lin-v1"]
    assert reasons[:2] == [("ed", "gates passed"), ("ed", "re-gate on dataset full: now with ctr")]
    # A budget no scoring can meet fails the latency gate, read when the run starts.
    tight = await client.put(
        "/v1/gate-policy", json={"latency_budget_ms": 0.001, "latency_candidates": 50}, headers=AUTH
    )
    assert tight.status == 200
    assert (
        await client.post("/v1/models/lin-v1/regate", json={"dataset": "full"}, headers=AUTH)
    ).status == 202
    slow = await _gated(client, "lin-v1")
    assert slow["state"] == "failed"
    (latency,) = [r for r in slow["gates"]["results"] if not r["passed"]]
    assert latency["gate"] == "latency" and "(budget 0.001 ms)" in latency["detail"]
    assert latency["figures"]["candidates"] == 50
    assert latency["figures"]["measurements"] == 2  # a failure is measured twice
    assert [g["passed"] for g in slow["gates_history"]] == [False, True]


async def test_the_cli_creates_lists_regates_and_sets_the_policy(
    client: TestClient,
    gateway: Gateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ABGATE_TOKEN", token_of("bob"))
    url = str(client.make_url("")).rstrip("/")
    path = tmp_path / "heldout.parquet"
    path.write_bytes(parquet(rows()))

    async def run(*argv: str) -> str:
        capsys.readouterr()
        assert await asyncio.to_thread(cli, [*argv, "--url", url]) == 0
        return capsys.readouterr().out

    created = orjson.loads(
        await run("datasets", "create", str(path), "--id", "heldout", "--description", "q4")
    )
    assert created["created"] is True and created["format"] == "parquet"
    assert "heldout" in await run("datasets", "list")
    shown = orjson.loads(await run("datasets", "show", "heldout", "-o", "json"))
    assert shown["description"] == "q4"
    policy = orjson.loads(
        await run(
            "gates", "policy", "set", "dataset=heldout", "latency_ratio=off", "--reason", "ours"
        )
    )
    assert policy["policy"]["dataset"] == "heldout"
    shown = orjson.loads(await run("gates", "policy", "-o", "json"))
    assert shown["policy"]["dataset"] == "heldout"
    # No dataset named: the policy's default is used.
    assert (
        await register(client, linear_card("lin-v2", FEATURES), linear_ranker([1.0, 1.0]))
    ).status == 202
    first = await _gated(client, "lin-v2")
    assert (first["gates"]["dataset"]["source"], first["gates"]["dataset"]["chosen_by"]) == (
        "heldout",
        "policy",
    )
    regated = orjson.loads(
        await run("models", "regate", "lin-v2", "--dataset", "heldout", "--reason", "again")
    )
    assert regated["state"] == "gating"
    assert (await _gated(client, "lin-v2"))["state"] == "passed"


async def test_a_dataset_is_built_from_logged_traffic_graded_by_outcomes(
    client: TestClient, gateway: Gateway
) -> None:
    """Feature logging on: searches with named features, clicks and purchases on some; the
    dataset built from them holds those searches with the shown items' features, graded."""
    refused = await client.post(
        "/v1/datasets/from-traffic", json={"id": "traffic", "hours": 1}, headers=AUTH
    )
    assert refused.status == 409, await refused.text()
    assert "ABGATE_FEATURE_LOG_SHARE" in (await refused.json())["error"]["message"]
    gateway.settings = replace(gateway.settings, feature_log_share=1.0)
    shop = rows(queries=4)
    searches = []
    for q, line in enumerate(shop):
        body = {
            "user_id": f"u-{q}",
            "query": line["query"],
            "k": 5,
            "candidates": [{"id": c["id"], "features": c["features"]} for c in line["candidates"]],
        }
        response = await client.post("/v1/search", json=body)
        assert response.status == 200, await response.text()
        searches.append(await response.json())
    events = []
    for q, page in enumerate(searches[:3]):  # the fourth search: nobody touched it
        top = page["results"][0]["item_id"]
        for kind in ("click", "purchase") if q == 0 else ("click",):
            events.append(
                {
                    "event_id": f"{kind}-{q}",
                    "type": kind,
                    "search_id": page["search_id"],
                    "user_id": f"u-{q}",
                    "item_id": top,
                    "value": 10.0,
                }
            )
    response = await client.post("/v1/events", json={"events": events})
    assert response.status == 202, await response.text()
    for _ in range(100):  # the sink's flush
        if gateway.sink.buffered == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)

    bad = await client.post(
        "/v1/datasets/from-traffic", json={"id": "traffic", "hours": -1}, headers=AUTH
    )
    assert bad.status == 400 and (await bad.json())["error"]["where"] == "$.hours"
    response = await client.post(
        "/v1/datasets/from-traffic", json={"id": "traffic", "hours": 1}, headers=AUTH
    )
    assert response.status == 201, await response.text()
    made = await response.json()
    assert made["built"] == {
        "searches": 3,
        "logged_searches": 4,
        "left_out_unlabelled": 1,
        "left_out_lacking_features": 0,
        "features": list(FEATURES),
        "candidates": 15,
        "grades": {"0": 12, "1": 2, "3": 1},
    }
    assert made["features"] == list(FEATURES) and made["queries"] == 3
    shown = await (await client.get("/v1/datasets/traffic", headers=AUTH)).json()
    assert shown["sha256"] == made["sha256"]


async def test_an_experiment_naming_a_dataset_starts_once_its_treatment_passed_on_it(
    client: TestClient, gateway: Gateway
) -> None:
    for name, lines in (("other", rows(seed=5)), ("full", rows())):
        assert (await upload(client, {"id": name}, jsonl(lines))).status == 201
    card = linear_card("lin-v2", FEATURES, dataset="other")
    assert (await register(client, card, linear_ranker([1.0, 1.0]))).status == 202
    assert (await _gated(client, "lin-v2"))["state"] == "passed"
    experiment = {
        "key": "on-full",
        "namespace_range": [0.0, 1.0],
        "min_runtime_s": 0,
        "dataset": "full",
        "variants": [
            {"name": "control", "model_version": "prod-v1"},
            {"name": "candidate", "model_version": "lin-v2"},
        ],
    }
    bad = await client.post(
        "/v1/experiments", json=experiment | {"key": "bad", "dataset": "no good"}, headers=AUTH
    )
    assert bad.status == 400
    assert (await bad.json())["error"]["where"] == "$.dataset"
    assert "got 'no good'" in (await bad.json())["error"]["message"]
    assert (await client.post("/v1/experiments", json=experiment, headers=AUTH)).status == 201
    refused = await client.post("/v1/experiments/on-full/start", headers=AUTH)
    assert refused.status == 409
    assert "version 'lin-v2' was gated on 'other'; re-gate it: abgate models regate lin-v2" in (
        await refused.text()
    )
    regate = await client.post(
        "/v1/models/lin-v2/regate", json={"dataset": "full"}, headers=auth("ed")
    )
    assert regate.status == 202, await regate.text()
    assert (await _gated(client, "lin-v2"))["state"] == "passed"
    await wait_for(client, "lin-v2", lambda c: bool(c["loaded_by"]))
    for key in ("better", "worse", "aa"):  # the namespace's other experiments
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    started = await client.post("/v1/experiments/on-full/start", headers=AUTH)
    assert started.status == 200, await started.text()
    assert (await started.json())["experiment"]["dataset"] == "full"
