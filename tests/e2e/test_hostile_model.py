"""A model whose scoring never ends, on a live deployment: two gateway processes, real Redis,
real HTTP, a real ONNX model (a Loop of 2**62 steps) and ABGATE_GATE_TIMEOUT_S=3.

Its gates fail at the deadline, run once, in one process; a version left "gating" by a
process that died is taken over by one process, not by every one; and SIGTERM while a gate
runs stops every process within its drain time, the gate process with it."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import orjson
import pytest

from gateway.http.server import SHUTDOWN_TIMEOUT_S
from gateway.models.artifacts import ArtifactStore
from gateway.models.card import ModelCard, parse_declaration
from gateway.models.gate_claims import GateClaims
from gateway.models.store import ModelStore
from gateway.redis_client import redis_client
from gateway.settings import Settings
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import System, running_system
from tests.http.test_models import form
from tests.models.hostile import gate_processes, never_ending_card, never_ending_model
from tests.tokens import auth

GATE_TIMEOUT_S = 3
# The bound on a stop: aiohttp's drain of the requests in flight (SHUTDOWN_TIMEOUT_S), then
# the resources' close (each background task is given at most 3 s, gates included).
DRAIN_S = SHUTDOWN_TIMEOUT_S + 3.0


@pytest.fixture
def deployment(settings: Settings) -> Iterator[System]:
    settings = replace(settings, routing_file=TEST_CONFIGS / "production_only.toml")
    with running_system(settings, extra_env={"ABGATE_GATE_TIMEOUT_S": str(GATE_TIMEOUT_S)}) as s:
        yield s


class Watch:
    """The deployment as the test sees it: its HTTP API and its gate processes."""

    def __init__(self, session: aiohttp.ClientSession, system: System) -> None:
        self.session, self.base = session, system.base_url
        self.gateways = [p for _, p in system.group.processes]
        self.children: set[tuple[int, int]] = set()  # (gateway pid, gate process pid)
        self.most_at_once = 0

    def look(self) -> list[int]:
        now = [(g.pid, c) for g in self.gateways for c in gate_processes([g.pid])]
        self.children |= set(now)
        self.most_at_once = max(self.most_at_once, len(now))
        return [c for _, c in now]

    async def card(self, version: str) -> dict[str, Any]:
        url = f"{self.base}/v1/models/{version}"
        async with self.session.get(url, headers=auth("vera")) as response:
            assert response.status == 200, await response.text()
            card: dict[str, Any] = await response.json()
            return card

    async def until_gated(self, version: str, limit_s: float = 60.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while (card := await self.card(version))["state"] == "gating":
            self.look()
            assert loop.time() < deadline, card
            await asyncio.sleep(0.05)
        return card

    async def register(self, version: str) -> None:
        data = form(never_ending_card(version), never_ending_model())
        url = f"{self.base}/v1/models"
        async with self.session.post(url, data=data, headers=auth("bob")) as response:
            assert response.status == 202, await response.text()

    async def audit(self, version: str) -> list[tuple[str, str]]:
        url = f"{self.base}/v1/audit?count=100"
        async with self.session.get(url, headers=auth("vera")) as response:
            entries = (await response.json())["entries"]
        return [(e["actor"], e["reason"]) for e in entries if e.get("model") == version]


def deadline_failure(card: dict[str, Any]) -> str:
    assert card["state"] == "failed", card
    (result,) = card["gates"]["results"]
    assert result["detail"] == (
        f"gates did not finish within {GATE_TIMEOUT_S} s (ABGATE_GATE_TIMEOUT_S); "
        "the gate process was stopped"
    ), result
    return f"gates failed: {result['gate']}: {result['detail']}"


async def plant_orphan(settings: Settings, version: str) -> None:
    """A never-ending version registered ten minutes ago by a process that died before its
    gates finished: still "gating", its file in the store, no claim on it."""
    onnx = never_ending_model()
    sha, _ = ArtifactStore(settings.models_dir).put_bytes(onnx)
    declaration = parse_declaration(never_ending_card(version))
    card = ModelCard(declaration, sha, len(onnx), {}, "bob", time.time() - 600)
    redis = redis_client(str(settings.redis_url))
    try:
        assert await ModelStore(redis, settings.keys).register(card, "bob", "registered")
    finally:
        await redis.aclose()


async def test_a_never_ending_model_fails_once_and_sigterm_stops_every_process(
    deployment: System,
) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        watch = Watch(session, deployment)
        # 1. Registered over HTTP: gated by the process that took the request, failed at the
        #    deadline, in one gate process.
        started = loop.time()
        await watch.register("forever-a")
        reason = deadline_failure(await watch.until_gated("forever-a"))
        failed_after_s = loop.time() - started
        assert await watch.audit("forever-a") == [("bob", reason), ("bob", "registered")]
        assert len(watch.children) == 1 and watch.most_at_once == 1, watch.children

        # 2. Left "gating" by a dead process: both live processes may take it over; one does.
        watch.children.clear()
        await plant_orphan(deployment.settings, "forever-b")
        reason = deadline_failure(await watch.until_gated("forever-b"))
        assert await watch.audit("forever-b") == [("gate-takeover", reason), ("bob", "registered")]
        assert len(watch.children) == 1 and watch.most_at_once == 1, watch.children

        # 3. SIGTERM to every process while a gate runs.
        watch.children.clear()
        await watch.register("forever-c")
        while not (running := watch.look()):
            assert loop.time() < started + 120
            await asyncio.sleep(0.02)
        stopping = loop.time()
        for gateway in watch.gateways:
            gateway.send_signal(signal.SIGTERM)
        stopped_after_s: dict[int, float] = {}
        while len(stopped_after_s) < len(watch.gateways):
            for gateway in watch.gateways:
                if gateway.poll() is not None and gateway.pid not in stopped_after_s:
                    stopped_after_s[gateway.pid] = loop.time() - stopping
            assert loop.time() - stopping < DRAIN_S, f"not stopped within {DRAIN_S} s"
            await asyncio.sleep(0.02)
    assert [g.returncode for g in watch.gateways] == [0, 0]
    assert not set(running) & set(gate_processes(g.pid for g in watch.gateways))
    # The gate was stopped, not failed: its claim is given up for the next process to start.
    redis = redis_client(str(deployment.settings.redis_url))
    try:
        store = ModelStore(redis, deployment.settings.keys)
        assert (await store.get("forever-c")).state == "gating"
        claims = GateClaims(redis, deployment.settings.keys)
        assert await redis.get(claims.claim_key("forever-c")) is None
        assert await redis.hget(claims.runs_key, "forever-c") == b"1"
    finally:
        await redis.aclose()
    print(
        orjson.dumps(
            {
                "registered_to_failed_s": round(failed_after_s, 2),
                "sigterm_to_exit_s": sorted(round(s, 2) for s in stopped_after_s.values()),
            }
        ).decode()
    )
