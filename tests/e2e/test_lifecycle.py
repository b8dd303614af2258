"""The lifecycle on a live system, with no restart: two gateway processes, the worker, real
Redis, real ONNX, real HTTP. Register a version → gates recorded → experiment created and
started → searches routed to it → the worker promotes it and production moves → a second
experiment on the same namespace → production rolled back in one call → the experiment paused
(everyone gets production, nothing counted) and resumed (the same arms) → a freeze pauses it
and lifting the freeze resumes it. The audit stream holds every step."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import Api as LiveApi
from tests.e2e.conftest import System, running_system
from tests.http.test_models import form

CHUNK = 1500
MAX_SHOPPERS = 30_000


@pytest.fixture
def fresh(settings: Settings) -> Iterator[System]:
    """An empty store seeded with production only, two gateways and the worker."""
    settings = replace(settings, routing_file=TEST_CONFIGS / "production_only.toml")
    with running_system(settings, worker=True) as system:
        yield system


class Api(LiveApi):
    async def register(self, models_dir: Any, version: str) -> Any:
        card = json.loads((models_dir / version / "card.json").read_text())
        onnx = (models_dir / version / "model.onnx").read_bytes()
        await self.call("POST", "/v1/models", 202, data=form(card, onnx))
        return await self.until(
            f"/v1/models/{version}",
            lambda c: (
                (c["state"] != "gating" and len(c["loaded_by"]) == 2) or c["state"] == "failed"
            ),
        )

    async def search_assignments(self, users: int = 200, prefix: str = "s") -> set[str]:
        seen = set()
        for i in range(users):
            page = await self.call(
                "POST",
                "/v1/search",
                json={"user_id": f"{prefix}{i}", "query": "tent", "candidates": [1, 2, 3]},
            )
            seen |= {f"{a['experiment']}/{a['variant']}" for a in page["assignments"]}
        return seen


def _experiment(key: str, control: str, candidate: str) -> dict[str, Any]:
    return {
        "key": key,
        "namespace_range": [0.0, 1.0],
        "min_units_per_arm": 300,
        "min_runtime_s": 0,  # decided as soon as the data allow (the default waits a week)
        "guardrails": [{"metric": "click_through_rate", "margin": 0.05}],
        "variants": [
            {"name": "control", "model_version": control, "weight": 0.5},
            {"name": "candidate", "model_version": candidate, "weight": 0.5},
        ],
    }


async def test_register_gate_experiment_promote_again_rollback_freeze(fresh: System) -> None:
    models_dir = fresh.settings.seed_models_dir
    async with aiohttp.ClientSession() as session:
        api = Api(session, fresh.base_url)
        assert (await api.call("GET", "/v1/production"))["production"] == "prod-v1"
        assert [m["version"] for m in (await api.call("GET", "/v1/models"))["models"]] == [
            "prod-v1"
        ]
        assert await api.search_assignments(20) == set()

        # Register while serving; the gates run in the background and are recorded.
        card = await api.register(models_dir, "cand-v2")
        assert card["state"] == "passed", card["gates"]
        assert {r["gate"] for r in card["gates"]["results"]} >= {
            "offline_quality",
            "latency",
            "consistency",
        }

        await api.call(
            "POST", "/v1/experiments", 201, json=_experiment("ranker-v2", "prod-v1", "cand-v2")
        )
        await api.call("POST", "/v1/experiments/ranker-v2/start")
        assert await api.search_assignments() == {"ranker-v2/control", "ranker-v2/candidate"}

        served = 0
        while served < MAX_SHOPPERS:
            stats = await ShopperTraffic(
                fresh.base_url, seed=7 + served, concurrency=16, max_shoppers=CHUNK
            ).run()
            assert stats.errors == 0, stats.error_samples
            served += CHUNK
            await asyncio.sleep(1.5)
            fresh.group.check()
            if (await api.call("GET", "/v1/experiments/ranker-v2"))["status"] == "concluded":
                break
        first = await api.call("GET", "/v1/experiments/ranker-v2")
        assert (first["status"], first["outcome"]) == ("concluded", "promoted"), first
        assert sum(first["stats"]["candidate"].values()) > 0  # its results stay readable
        production = await api.call("GET", "/v1/production")
        assert production["production"] == "cand-v2"
        assert (production["history"][0]["experiment"], production["history"][0]["actor"]) == (
            "ranker-v2",
            "decision-loop",
        )
        assert await api.search_assignments(50) == set()  # concluded: routes nobody

        # A second experiment on the same namespace: a version that fails its gate, let
        # through by an audited override.
        worse = await api.register(models_dir, "worse-v0")
        assert worse["state"] == "failed"
        await api.call(
            "POST", "/v1/experiments", 201, json=_experiment("ranker-v0", "cand-v2", "worse-v0")
        )
        refused = await api.call("POST", "/v1/experiments/ranker-v0/start", 422)
        assert "failed its gates" in refused["error"]["message"]
        await api.call("POST", "/v1/models/worse-v0/override", json={"reason": "see it lose"})
        await api.until("/v1/models/worse-v0", lambda c: len(c["loaded_by"]) == 2)
        await api.call("POST", "/v1/experiments/ranker-v0/start")
        assert await api.search_assignments() == {"ranker-v0/control", "ranker-v0/candidate"}

        # Production back to the one before, in one call.
        back = await api.call("POST", "/v1/production/rollback", json={"reason": "pages slow"})
        assert back["production"] == "prod-v1"

        # Paused: its users get production and count for nothing; resumed, the same arms.
        v0 = "/v1/experiments/ranker-v0"
        paused = await api.call("POST", f"{v0}/pause", json={"reason": "feed outage"})
        assert paused["experiment"]["status"] == "paused"
        assert await api.search_assignments(100, prefix="p") == set()
        await api.call("POST", f"{v0}/resume", json={"reason": "feed back"})
        assert await api.search_assignments(50, prefix="r") == {
            "ranker-v0/control",
            "ranker-v0/candidate",
        }

        def users(view: Any) -> int:
            return sum(arm.get("users", 0) for arm in view["stats"].values())

        # 200 searched before the pause, 50 after it; none of the 100 searched while paused.
        assert users(await api.until(v0, lambda v: users(v) >= 250)) == 250

        # Freeze: everyone gets production, nothing starts or resumes; lifting it resumes
        # what it paused.
        frozen = await api.call("POST", "/v1/freeze", json={"reason": "peak season"})
        assert frozen["frozen"] is True
        view = await api.call("GET", v0)
        assert (view["status"], view["outcome"], view["paused_by"]) == ("paused", "none", "freeze")
        assert await api.search_assignments(50) == set()
        await api.call(
            "POST", "/v1/experiments", 201, json=_experiment("ranker-v3", "prod-v1", "cand-v2")
        )
        await api.call("POST", "/v1/experiments/ranker-v3/start", 409)
        await api.call("POST", f"{v0}/resume", 409, json={"reason": "too soon"})
        await api.call("DELETE", "/v1/freeze")
        view = await api.call("GET", v0)
        assert (view["status"], view["paused_at"]) == ("running", None) and view["paused_s"] > 0
        assert await api.search_assignments(50) == {"ranker-v0/control", "ranker-v0/candidate"}
        # Its range is its own again until it concludes.
        await api.call("POST", "/v1/experiments/ranker-v3/start", 409)
        await api.call("POST", f"{v0}/stop", json={"reason": "seen enough"})
        await api.call("POST", "/v1/experiments/ranker-v3/start")

        audit = (await api.call("GET", "/v1/audit?count=200"))["entries"]
        steps = [(e["actor"], e.get("model"), e["reason"]) for e in reversed(audit)]
        expected = [
            ("carol", "cand-v2", "registered"),
            ("carol", "cand-v2", "gates passed"),
            ("carol", None, "created"),
            ("carol", None, "started"),
            ("decision-loop", None, None),
            ("carol", "worse-v0", "registered"),
            ("carol", "worse-v0", "gates failed"),
            ("carol", None, "created"),
            ("carol", "worse-v0", "gates overridden: see it lose"),
            ("carol", None, "started"),
            ("carol", None, "rollback from cand-v2 to prod-v1: pages slow"),
            ("carol", None, "feed outage"),
            ("carol", None, "feed back"),
            ("carol", None, "freeze: peak season"),
            ("carol", None, "created"),
            ("carol", None, "unfreeze"),
            ("carol", None, "seen enough"),
            ("carol", None, "started"),
        ]
        position = 0
        for actor, model, reason in expected:
            while position < len(steps) and not (
                steps[position][0] == actor
                and steps[position][1] == model
                and (reason is None or steps[position][2].startswith(reason))
            ):
                position += 1
            assert position < len(steps), (actor, model, reason, steps)
            position += 1
