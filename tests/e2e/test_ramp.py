"""A canary schedule advances coverage by itself, and ramping an experiment's weights on a
live system starts a new phase: users are
re-randomised with the phase's seed, the phase's statistics start afresh, and the experiment
still reaches its correct decision with no sample-ratio-mismatch block (before phases, the
README's own ramp moved ~40 % of users across arms and SRM blocked every decision for good)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System, get_json, seeded_system
from tests.tokens import auth

AUTH = auth("erin")
CHUNK = 1500


@pytest.fixture
def ramped(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "ramp.toml") as s:
        yield s


async def test_a_weight_ramp_starts_a_phase_and_the_decision_still_comes(ramped: System) -> None:
    base = ramped.base_url
    first = await ShopperTraffic(base, seed=11, concurrency=16, max_shoppers=CHUNK).run()
    assert first.errors == 0
    async with aiohttp.ClientSession() as session:
        # The canary schedule: the worker has moved coverage from 0.3 to 1.0, audited.
        for _ in range(50):
            canary = await get_json(session, f"{base}/v1/experiments/ramp")
            if canary["coverage"] == 1.0:
                break
            await asyncio.sleep(0.2)
        assert (canary["coverage"], canary["ramp_step"]) == (1.0, 1), canary
        audit = (await get_json(session, f"{base}/v1/audit?count=20"))["entries"]
        assert any(
            e["actor"] == "decision-loop" and e["reason"].startswith("ramp step 2 of 2")
            for e in audit
        )
        async with session.patch(
            f"{base}/v1/experiments/ramp",
            json={"weights": {"control": 0.5, "candidate": 0.5}, "reason": "ramp up"},
            headers=AUTH,
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["experiment"]["phases"][-1]["weights"] == [0.5, 0.5]
        served = CHUNK
        data: dict[str, Any] = {}
        while served < 30_000:
            stats = await ShopperTraffic(
                base, seed=11 + served, concurrency=16, max_shoppers=CHUNK
            ).run()
            assert stats.errors == 0, stats.error_samples
            served += CHUNK
            await asyncio.sleep(1.5)
            ramped.group.check()
            data = await get_json(session, f"{base}/v1/experiments/ramp")
            evaluation = data["last_evaluation"]
            if evaluation:
                assert evaluation["phase"] == 1
                assert "srm" not in evaluation["decision"]["blocked_by"], evaluation["decision"]
            if data["status"] == "concluded":
                break
        assert (data["status"], data["outcome"]) == ("concluded", "promoted"), data
        assert (await get_json(session, f"{base}/v1/production"))["production"] == "cand-v2"
    # Phase 1 was analysed on its own: its users split about evenly, its SRM check passed;
    # phase 0's users (90/10) stay readable apart.
    phase0, phase1 = data["phase_results"]
    assert phase0["weights"] == [0.9, 0.1] and phase1["weights"] == [0.5, 0.5]
    units0 = {v: s["users"] for v, s in phase0["stats"].items()}
    units1 = {v: s["users"] for v, s in phase1["stats"].items()}
    assert units0["control"] > 5 * units0["candidate"]
    assert 0.8 < units1["control"] / units1["candidate"] < 1.25
    assert phase1["last_evaluation"]["srm_p_value"] > 0.001
