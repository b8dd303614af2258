"""The worker's own endpoint: its Prometheus figures are there from the start (at zero) and
count what it applied, and /healthz says whether its loop comes round."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.processes import wait_ready
from gateway.records import OUTCOME_TYPES
from gateway.redis_server import free_port
from gateway.worker.health import DECISION_ACTIONS
from tests.e2e.conftest import System
from tests.live import gateway_env


async def _figures(session: aiohttp.ClientSession, health: str) -> dict[tuple[str, str], float]:
    async with session.get(health + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, next(iter(s.labels.values()), "")): s.value  # each has one label at most
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


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
        start = await _figures(session, health)  # every known series, before anything happens
        for action in DECISION_ACTIONS:
            assert start[("abgate_worker_decisions_total", action)] == 0, action
        for kind in OUTCOME_TYPES:
            assert start[("abgate_worker_outcomes_applied_total", kind)] == 0, kind
        assert start[("abgate_worker_redis_up", "")] == 1
        pages = []
        for i in range(12):
            body = {"user_id": f"w{i}", "query": "tent", "candidates": list(range(10))}
            async with session.post(f"{system.base_url}/v1/search", json=body) as response:
                assert response.status == 200
                pages.append(await response.json())
        figures: dict[tuple[str, str], float] = {}
        for _ in range(50):
            await asyncio.sleep(0.2)
            figures = await _figures(session, health)
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
        for i, page in enumerate(pages[:3]):  # clicks on what three searches showed
            click = {"event_id": f"c-{i}", "type": "click", "search_id": page["search_id"],
                     "user_id": f"w{i}", "item_id": page["results"][0]["item_id"]}  # fmt: skip
            async with session.post(f"{system.base_url}/v1/events", json=click) as response:
                assert response.status == 202
        # Purchases at checkout (no search id): each searching user's counts for their arm;
        # one of a user who never searched is counted as unattributed.
        for user in [f"w{i}" for i in range(12)] + ["nobody"]:
            purchase = {"event_id": "o-1", "type": "purchase", "user_id": user,
                        "item_id": "SKU-1", "value": 2.5}  # fmt: skip
            async with session.post(f"{system.base_url}/v1/events", json=purchase) as response:
                assert response.status == 202
        for _ in range(50):
            await asyncio.sleep(0.2)
            figures = await _figures(session, health)
            if figures.get(("abgate_worker_entries_total", "unattributed")) == 1 and (
                figures.get(("abgate_worker_entries_total", "outcome_applied")) == 15
            ):
                break
        assert figures[("abgate_worker_entries_total", "outcome_applied")] == 15, figures
        assert figures[("abgate_worker_entries_total", "unattributed")] == 1
        for kind, applied in (("purchase", 12), ("click", 3), ("add_to_cart", 0)):
            assert figures[("abgate_worker_outcomes_applied_total", kind)] == applied, kind


async def test_the_worker_trims_what_it_applied(system: System) -> None:
    """With no retention, a live worker trims the streams behind what it applied; every search
    and click is still counted (nothing unacknowledged is trimmed)."""
    from redis.asyncio import Redis

    from gateway.keys import Keys
    from gateway.variant_stats import read_variant_stats

    env = gateway_env(system.settings, 0) | {"ABGATE_STREAM_RETENTION_S": "0"}
    system.group.spawn("worker", ["worker", "--interval", "0.5"], env)
    searches = 400
    async with aiohttp.ClientSession() as session:
        for i in range(searches):
            body = {"user_id": f"t{i}", "query": "tent", "candidates": list(range(10))}
            async with session.post(f"{system.base_url}/v1/search", json=body) as response:
                page = await response.json()
            click = {"event_id": f"t{i}-c", "type": "click", "search_id": page["search_id"],
                     "user_id": f"t{i}", "item_id": page["results"][0]["item_id"]}  # fmt: skip
            async with session.post(f"{system.base_url}/v1/events", json=click) as response:
                assert response.status == 202
    assert system.settings.redis_url
    redis = Redis.from_url(system.settings.redis_url)
    keys = Keys(system.settings.prefix)
    try:
        counted: dict[str, int] = {}
        for _ in range(150):  # the worker trims every 10 s
            await asyncio.sleep(0.2)
            stats = await read_variant_stats(redis, keys, "better")
            stats |= {f"{e}:{v}": row for e in ("worse", "aa")
                      for v, row in (await read_variant_stats(redis, keys, e)).items()}  # fmt: skip
            counted = {
                "searches": sum(r["searches"] for r in stats.values()),
                "clicks": sum(r["clicks"] for r in stats.values()),
            }
            lengths = [
                await redis.xlen(keys.shard(0).exposures),
                await redis.xlen(keys.shard(0).outcomes),
            ]
            if counted["clicks"] == searches and max(lengths) < searches // 2:
                break
        # Every user is in one of the three experiments: every search and click counted.
        assert counted == {"searches": searches, "clicks": searches}, counted
        assert max(lengths) < searches // 2, lengths  # trimmed (Redis trims whole nodes)
    finally:
        await redis.aclose()
