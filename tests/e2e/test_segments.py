"""Segments on a live system: a candidate that wins overall but loses on mobile.

The storefront's shoppers here are the test's own: each searches once with its device in the
search context and buys (or not) with a probability that depends on its arm and device — the
candidate sells far better on desktop and far worse on mobile. The deployment declares the
device dimension; the worker keeps every sum per (arm, segment), and its evaluation raises a
differential-impact alert for device=mobile, named in the decision's reasons and never acted
on. The same figures are read through the drill-down endpoint."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from tests.e2e.conftest import Api, System, seeded_system

SHOPPERS = 1600
BUY = {("control", "desktop"): 0.2, ("control", "mobile"): 0.2,
       ("candidate", "desktop"): 0.5, ("candidate", "mobile"): 0.04}  # fmt: skip
EXPERIMENT = {
    "key": "mobile-split",
    "min_units_per_arm": 200,
    "min_runtime_s": 86_400,  # it keeps running: the alert is read on a live experiment
    "variants": [
        {"name": "control", "model_version": "prod-v1", "weight": 0.5},
        {"name": "candidate", "model_version": "prod-v1", "weight": 0.5},
    ],
}


@pytest.fixture
def live(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "production_only.toml") as s:
        yield s


async def _shop(session: aiohttp.ClientSession, base: str, user: str, rng: random.Random) -> None:
    device = "mobile" if rng.random() < 0.4 else "desktop"
    search = {"user_id": user, "query": "tent", "candidates": list(range(20)),
              "context": {"device": device}}  # fmt: skip
    async with session.post(f"{base}/v1/search", json=search) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    arm = next(a["variant"] for a in answer["assignments"] if a["experiment"] == EXPERIMENT["key"])
    if rng.random() < BUY[arm, device]:
        item = answer["results"][0]
        event = {"event_id": f"{user}-buy", "type": "purchase", "user_id": user,
                 "search_id": answer["search_id"], "item_id": item["item_id"], "position": 0,
                 "value": 30.0}  # fmt: skip
        async with session.post(f"{base}/v1/events", json=event) as response:
            assert response.status in (200, 202), await response.text()


async def shoppers(base: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            async with gate:
                await _shop(session, base, f"seg-{seed}-{i}", rng)

        await asyncio.gather(*(one(i) for i in range(count)))


async def start_split(api: Api) -> None:
    dimensions = [{"name": "device", "values": ["mobile", "desktop"]}]
    await api.call("PUT", "/v1/segments", json={"dimensions": dimensions, "reason": "by device"})
    await api.call("POST", "/v1/experiments", 201, json=EXPERIMENT)
    await api.call("POST", f"/v1/experiments/{EXPERIMENT['key']}/start", json={})
    await asyncio.sleep(1.0)  # every gateway process has the change


def mobile_alerts(evaluation: dict[str, Any] | None) -> list[dict[str, Any]]:
    alerts = (evaluation or {}).get("alerts") or []
    return [a for a in alerts if a["kind"] == "segment" and a.get("value") == "mobile"]


async def test_a_candidate_that_loses_on_mobile_raises_a_segment_alert(live: System) -> None:
    key = EXPERIMENT["key"]
    async with aiohttp.ClientSession() as session:
        api = Api(session, live.base_url)
        await start_split(api)
        await shoppers(live.base_url, SHOPPERS, seed=1)
        data = await api.until(
            f"/v1/experiments/{key}",
            lambda d: bool(mobile_alerts(d["last_evaluation"])),
            limit_s=90.0,
        )
        evaluation = data["last_evaluation"]
        (alert,) = mobile_alerts(evaluation)
        assert alert["variant"] == "candidate" and alert["metric"] == "purchase_conversion"
        assert alert["blocks"] is False
        # it wins overall, and the reasons name the alert; the experiment is not touched
        conversion = next(m for m in evaluation["metrics"] if m["metric"] == "purchase_conversion")
        assert conversion["lifts"][0]["lift"] > 0
        assert any("segment alert" in r and "device=mobile" in r
                   for r in evaluation["decision"]["reasons"])  # fmt: skip
        assert data["status"] == "running"
        by_value = {s["value"]: s for s in evaluation["segments"]}
        assert by_value["mobile"]["lifts"][0]["lift"] < 0 < by_value["desktop"]["lifts"][0]["lift"]
        users = by_value["mobile"]["users"]["control"] + by_value["desktop"]["users"]["control"]
        assert users == conversion["arms"][0]["users"]  # the same evaluation's users
        # the drill-down reads the same segments, on any metric
        drill = await api.call(
            "GET", f"/v1/experiments/{key}/segments?metric=revenue_per_user&dimension=device"
        )
        assert drill["dimensions"] == ["device"]
        assert {s["value"] for s in drill["segments"]} == {"mobile", "desktop"}
        assert any(a["value"] == "mobile" for a in drill["alerts"])
