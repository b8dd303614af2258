"""Shadow versions over real HTTP with real models: production's searches are also scored by
the shadow off the response path, and its agreement with production is reported."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from gateway.ops.agreement import agreement, report
from gateway.ops.histogram import latency_field
from tests.tokens import auth

AUTH = auth("frank")


def test_agreement_and_report() -> None:
    same = agreement([3.0, 2.0, 1.0], [30.0, 20.0, 10.0])
    assert (same.overlap_at_10, same.kendall_tau, same.rbo) == (1.0, 1.0, 1.0)
    reverse = agreement([3.0, 2.0, 1.0], [1.0, 2.0, 3.0])
    assert reverse.kendall_tau == -1.0
    figures = report(
        {
            "scored": 4,
            "errors": 1,
            "dropped": 2,
            "overlap_sum": 2.0,
            "tau_sum": 1.0,
            "rbo_sum": 3.0,
            "score_sum": 10.0,
            "score_sq_sum": 25.0,
            "score_n": 5,
            latency_field(2.0): 4,
        }
    )
    assert figures["searches"] == 5 and figures["error_rate"] == 0.2 and figures["dropped"] == 2
    assert (figures["overlap_at_10"], figures["kendall_tau"], figures["rbo"]) == (0.5, 0.25, 0.75)
    assert figures["score_mean"] == 2.0 and figures["score_std"] == 1.0
    assert figures["latency_ms"]["p99"] >= 2.0


async def _search(client: TestClient, user: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/search",
        json={"user_id": user, "query": "waterproof tent", "candidates": list(range(40))},
    )
    assert response.status == 200
    data: dict[str, Any] = await response.json()
    return data


async def _shadows(client: TestClient) -> list[dict[str, Any]]:
    data = await (await client.get("/v1/shadow", headers=auth("vera"))).json()
    shadows: list[dict[str, Any]] = data["shadows"]
    return shadows


async def _search_until_scored(client: TestClient, prefix: str, scored_before: int = 0) -> int:
    """Searches (each answered by production) in rounds until the worker has scored one more
    than ``scored_before``; how many were made."""
    made = 0
    for _ in range(120):
        for _ in range(10):
            page = await _search(client, f"{prefix}{made}")
            assert page["assignments"] == []  # the response is production's, as before
            made += 1
        await asyncio.sleep(0.5)
        if (await _shadows(client))[0]["scored"] > scored_before:
            return made
    raise AssertionError(f"the shadow worker scored nothing in {made} searches")


async def _shadow_once_counted(client: TestClient, offered: int) -> dict[str, Any]:
    """The shadow's figures once each offered search is scored or dropped (bounded)."""
    for _ in range(600):
        (shadow,) = await _shadows(client)
        if shadow["searches"] + shadow["dropped"] >= offered:
            return shadow
        await asyncio.sleep(0.1)
    return shadow


async def test_a_shadow_version_is_scored_off_the_response_path_and_reported(
    client: TestClient, gateway: Gateway
) -> None:
    for key in ("better", "worse", "aa"):  # everyone on production
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    response = await client.put("/v1/shadow/cand-v2", json={"share": 1.0}, headers=AUTH)
    assert response.status == 200, await response.text()
    # The worker starts with the shadow, at the lowest CPU priority: until it has loaded the
    # models, jobs wait and those older than MAX_AGE_S are dropped (counted). Searches go on
    # until it scores (bounded, never timed), then every offered one is accounted for.
    offered = await _search_until_scored(client, "u")
    shadow = await _shadow_once_counted(client, offered)
    # Every offered search is scored or, when this process is busy serving, dropped and counted.
    assert (shadow["version"], shadow["share"]) == ("cand-v2", 1.0)
    assert shadow["searches"] + shadow["dropped"] == offered and shadow["searches"] > 0
    assert shadow["errors"] == 0
    assert 0.0 < shadow["overlap_at_10"] < 1.0 and -1.0 <= shadow["kendall_tau"] <= 1.0
    assert shadow["latency_ms"]["p50"] > 0 and shadow["score_std"] > 0
    entry = (await (await client.get("/v1/audit?count=1", headers=auth("vera"))).json())["entries"][
        0
    ]
    assert entry["diff"][0]["path"].startswith("shadows") and entry["actor"] == "frank"
    # A shadow must be registered, usable and not production; a share is in (0, 1].
    bad = [
        (client.put("/v1/shadow/cand-v2", json={"share": 0}, headers=AUTH), 400),
        (client.put("/v1/shadow/cand-v2", json={"share": 2}, headers=AUTH), 400),
        (client.put("/v1/shadow/prod-v1", json={"share": 0.5}, headers=AUTH), 422),
        (client.put("/v1/shadow/nope-v1", json={"share": 0.5}, headers=AUTH), 422),
        (client.put("/v1/shadow/cand-v2", json={"share": 0.5}), 401),
        (client.delete("/v1/shadow/worse-v0", headers=AUTH), 404),
    ]
    version = gateway.router.version
    for request, status in bad:
        response = await request
        assert response.status == status, await response.text()
    assert gateway.router.version == version
    assert (await client.delete("/v1/shadow/cand-v2", headers=AUTH)).status == 200
    assert gateway.router.config.shadows == ()


async def test_an_experiment_can_require_a_passed_shadow_phase(
    client: TestClient, gateway: Gateway
) -> None:
    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)

    def experiment(key: str, **requirement: Any) -> dict[str, Any]:
        return {
            "key": key,
            "require_shadow": {"min_searches": 30, **requirement},
            "variants": [
                {"name": "control", "model_version": "prod-v1", "weight": 0.5},
                {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
            ],
        }

    for spec in (experiment("shadowed"), experiment("too-close", max_overlap=0.05)):
        assert (await client.post("/v1/experiments", json=spec, headers=AUTH)).status == 201
    refused = await client.post("/v1/experiments/shadowed/start", headers=AUTH)
    assert refused.status == 409
    assert "cand-v2 has 0 of the 30 shadow searches" in (await refused.json())["error"]["message"]
    await client.put("/v1/shadow/cand-v2", json={"share": 1.0}, headers=AUTH)
    for i in range(400):  # until 30 are scored (a busy process drops shadow work first)
        await _search(client, f"s{i}")
        if i % 20 == 19:
            await asyncio.sleep(1.2)  # the figures reach Redis once a second
            (shadow,) = (await (await client.get("/v1/shadow", headers=auth("vera"))).json())[
                "shadows"
            ]
            if shadow["searches"] >= 30:
                break
    assert shadow["searches"] >= 30
    # The figures are out of the experiment's band: refused for good (422), not "not yet".
    failed = await client.post("/v1/experiments/too-close/start", headers=AUTH)
    assert failed.status == 422
    assert "overlap@10 with production" in (await failed.json())["error"]["message"]
    started = await client.post("/v1/experiments/shadowed/start", headers=AUTH)
    assert started.status == 200, await started.text()


async def test_a_dead_shadow_worker_costs_searches_nothing_and_comes_back(
    client: TestClient, gateway: Gateway
) -> None:
    import os
    import signal

    from gateway.ops import shadow_client

    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    assert (await client.put("/v1/shadow/cand-v2", json={"share": 1.0}, headers=AUTH)).status == 200
    for _ in range(50):  # the worker process is up
        process = gateway.shadow._process
        if process is not None:
            break
        await asyncio.sleep(0.1)
    assert process is not None and process.returncode is None
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()
    for i in range(20):  # searches go on; their shadow jobs are dropped, counted
        assert (await _search(client, f"d{i}"))["assignments"] == []
    await asyncio.sleep(shadow_client.RESTART_S + 0.5)
    await _search(client, "wake")  # the next offer restarts the worker
    for _ in range(50):
        restarted = gateway.shadow._process
        if restarted is not None and restarted is not process:
            break
        await asyncio.sleep(0.1)
    assert restarted is not None and restarted is not process and restarted.returncode is None
    before = (await _shadows(client))[0]["scored"]
    offered = 21 + await _search_until_scored(client, "r", scored_before=before)
    shadow = await _shadow_once_counted(client, offered)
    assert shadow["dropped"] >= 20 and shadow["scored"] > before, shadow
