"""CUPED on a live system: shoppers who bought before an experiment started bring that activity
as their covariate; the worker's evaluation adjusts the primary metric with it and reports how
much variance it removed. (The simulator seeds each shopper by id, so a returning shopper
behaves much as before and the covariate removes ~85 % here; `make validate-stats` measures a
realistic population.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System, seeded_system
from tests.tokens import auth

AUTH = auth("erin")
SHOPPERS = 2000


@pytest.fixture
def fresh(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "production_only.toml") as s:
        yield s


async def test_returning_shoppers_bring_their_history_as_the_covariate(fresh: System) -> None:
    base = fresh.base_url
    # Before the experiment: the same shoppers (same ids) shop on production.
    before = await ShopperTraffic(base, seed=21, concurrency=16, max_shoppers=SHOPPERS).run()
    assert before.errors == 0 and before.purchases > 0
    experiment = {
        "key": "cuped",
        "min_units_per_arm": 200,
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "prod-v1", "weight": 0.5},  # A/A
        ],
    }
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.post(f"{base}/v1/experiments", json=experiment) as response:
            assert response.status == 201, await response.text()
        async with session.post(f"{base}/v1/experiments/cuped/start", json={}) as response:
            assert response.status == 200, await response.text()
        await asyncio.sleep(1.0)  # every process has the change (propagation < 1 s)
        during = await ShopperTraffic(base, seed=21, concurrency=16, max_shoppers=SHOPPERS).run()
        assert during.errors == 0
        data: dict[str, Any] = {}
        for _ in range(50):
            async with session.get(
                f"{base}/v1/experiments/cuped", headers=auth("vera")
            ) as response:
                data = await response.json()
            evaluation = data["last_evaluation"]
            if evaluation and evaluation["tuning_units"] is not None:
                break
            await asyncio.sleep(0.2)
    stats = data["stats"]
    assert all(s["pre_purchases"] > 0 for s in stats.values()), stats
    evaluation = data["last_evaluation"]
    assert evaluation["cuped"] is True, evaluation
    assert evaluation["variance_reduction"] > 0.05, evaluation
