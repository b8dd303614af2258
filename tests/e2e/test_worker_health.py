"""The worker's own endpoint: its Prometheus figures count what it applied, and /healthz
says whether its loop comes round."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.processes import wait_ready
from gateway.redis_server import free_port
from tests.e2e.conftest import System
from tests.live import gateway_env


async def test_worker_metrics_count_what_it_applied(system: System) -> None:
    port = free_port()
    system.group.spawn(
        "worker",
        ["worker", "--interval", "0.5", "--metrics-port", str(port)],
        gateway_env(system.settings, 0),
    )
    health = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_ready, health + "/healthz", system.group)
    async with aiohttp.ClientSession() as session:
        for i in range(12):
            body = {"user_id": f"w{i}", "query": "tent", "candidates": list(range(10))}
            async with session.post(f"{system.base_url}/v1/search", json=body) as response:
                assert response.status == 200
        figures: dict[tuple[str, str], float] = {}
        for _ in range(50):
            await asyncio.sleep(0.2)
            async with session.get(health + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
            figures = {
                (s.name, s.labels.get("result", s.labels.get("stream", ""))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            applied = figures.get(("abgate_worker_entries_total", "exposure_applied"))
            if applied == 12 and figures.get(("abgate_worker_evaluations_total", ""), 0) >= 2:
                break
        assert figures[("abgate_worker_entries_total", "exposure_applied")] == 12, figures
        assert figures[("abgate_worker_entries_total", "duplicate")] == 0
        assert figures[("abgate_worker_evaluations_total", "")] >= 1
        lags = [v for (name, _), v in figures.items() if name == "abgate_worker_stream_lag"]
        assert len(lags) == 2 and all(v == 0 for v in lags)  # both streams read to the end
        async with session.get(health + "/healthz") as response:
            assert response.status == 200 and (await response.json())["healthy"] is True
