"""/metrics in the Prometheus format across two gateway processes behind one port: every
labelled series is there from the start at zero; whichever process answers a scrape, it gives
the sums over both, and the counters add up to what was sent and only grow (per experiment arm
too)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from tests.e2e.conftest import System, get_json


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    # A new connection each time, so that both processes get to answer scrapes.
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return _samples(await response.text())


def _count(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _at_zero(samples: dict[Any, float], metric: metrics.Labelled, **labels: str) -> None:
    """The metric's series of these labels is there, and every sample of it is 0."""
    name = metric._name
    names = {f"{name}_total", f"{name}_count", f"{name}_sum", f"{name}_bucket"}
    own = [
        value
        for (sample, got), value in samples.items()
        if sample in names and dict(got, le="") == dict(labels, le="")
    ]
    assert own, f"{name}{labels} is missing"
    assert all(v == 0 for v in own), f"{name}{labels}: {own}"


async def _send(base: str, searches: int, bad: int, events: int, tag: str) -> list[str]:
    async with aiohttp.ClientSession() as session:
        ids = []
        for i in range(searches):
            body = {"user_id": f"{tag}{i}", "query": "tent", "candidates": list(range(20))}
            async with session.post(f"{base}/v1/search", json=body) as response:
                assert response.status == 200
                ids.append((await response.json())["search_id"])
        for _ in range(bad):
            async with session.post(f"{base}/v1/search", json={"user_id": "x"}) as response:
                assert response.status == 400
        for i in range(events):
            event = {
                "event_id": f"{tag}-e{i}",
                "type": "click",
                "search_id": ids[i],
                "user_id": f"{tag}{i}",
                "item_id": 1,
            }
            async with session.post(f"{base}/v1/events", json=event) as response:
                assert response.status == 202, await response.text()
    return ids


async def _send_batch(base: str, ids: list[str], kinds: list[str], tag: str) -> None:
    """One event request holding an event of each kind given, on the searches of ``ids``."""
    batch: list[dict[str, Any]] = [
        {"event_id": f"{tag}-{kind}{i}", "type": kind, "search_id": ids[i], "user_id": f"{tag}{i}"}
        | {"item_id": 2}
        | ({"value": 1.5} if kind == "purchase" else {})
        for i, kind in enumerate(kinds)
    ]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/v1/events", json={"events": batch}) as response,
    ):
        assert response.status == 202, await response.text()
        assert (await response.json())["accepted"] == len(kinds)


async def test_a_scrape_sums_every_process_and_counters_add_up(system: System) -> None:
    base = system.base_url
    async with aiohttp.ClientSession() as session:
        production = (await get_json(session, f"{base}/v1/production"))["production"]
    for _ in range(4):  # whichever process answers: every known series, at zero
        start = await _scrape(base)
        for metric, values in metrics.AT_START:
            label = metric._labelnames[0]
            for value in values:
                _at_zero(start, metric, **{label: value})
        for metric in metrics.PER_VERSION:  # the version each process loaded to serve
            _at_zero(start, metric, model_version=production)
    await _send(base, searches=40, bad=3, events=10, tag="a")
    first = [await _scrape(base) for _ in range(8)]
    pids = set()
    for _ in range(20):
        async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as r:
            pids.add((await r.json())["pid"])
    assert len(pids) == 2  # both processes answer on the port
    for samples in first:  # every scrape, whichever process gave it, the same sums
        assert _count(samples, "abgate_searches_total", outcome="ok") == 40
        assert _count(samples, "abgate_searches_total", outcome="bad_request") == 3
        assert _count(samples, "abgate_event_requests_total", outcome="ok") == 10
        assert _count(samples, "abgate_events_total", type="click") == 10
        assert _count(samples, "abgate_events_total", type="purchase") == 0
        assert _count(samples, "abgate_sink_records_total", stage="accepted") == 50
        assert _count(samples, "abgate_config_version") >= 1
        assert _count(samples, "abgate_models_loaded") >= 1
        served = sum(
            v for (name, labels), v in samples.items() if name == "abgate_search_seconds_count"
        )
        assert served == 43  # every search answered, the refused ones under "none"
    ids = await _send(base, searches=15, bad=1, events=5, tag="b")
    await _send_batch(base, ids, ["add_to_cart"] * 3 + ["purchase"] * 2 + ["click"], tag="b")
    await asyncio.sleep(1.2)  # the sink writes to Redis at least once a second
    second = await _scrape(base)
    for name, labels, grew in (
        ("abgate_searches_total", {"outcome": "ok"}, 15),
        ("abgate_searches_total", {"outcome": "bad_request"}, 1),
        ("abgate_event_requests_total", {"outcome": "ok"}, 6),
    ):
        assert _count(second, name, **labels) - _count(first[-1], name, **labels) == grew
    for kind, events in (("click", 16), ("add_to_cart", 3), ("purchase", 2)):
        assert _count(second, "abgate_events_total", type=kind) == events, kind
    assert _count(second, "abgate_sink_records_total", stage="written") == 76  # all in Redis
    batched = sum(
        v for (name, _), v in second.items() if name == "abgate_batch_requests_sum"
    )  # every scored search went through a batch
    assert batched == 55


async def test_experiment_arms_in_flight_and_redis_are_counted(system: System) -> None:
    """Searches and events in each experiment's arm (the arms the answers name), summed over
    both processes; no search in flight once all are answered; Redis reachable from both."""
    base = system.base_url
    arms: Counter[tuple[str, str]] = Counter()
    clicks: Counter[tuple[str, str]] = Counter()
    async with aiohttp.ClientSession() as session:
        for i in range(30):
            body = {"user_id": f"x{i}", "query": "tent", "candidates": list(range(8))}
            async with session.post(f"{base}/v1/search", json=body) as response:
                assert response.status == 200
                page = await response.json()
            tags = [(a["experiment"], a["variant"]) for a in page["assignments"]]
            arms.update(tags)
            if i % 3 == 0:  # a click on every third page
                click = {"event_id": f"x-c{i}", "type": "click", "search_id": page["search_id"]}
                click |= {"user_id": f"x{i}", "item_id": page["results"][0]["item_id"]}
                async with session.post(f"{base}/v1/events", json=click) as response:
                    assert response.status == 202
                clicks.update(tags)
    assert len(arms) >= 4 and sum(arms.values()) == 30  # three_experiments.toml covers everyone
    redis_up = 0.0
    for _ in range(50):  # each process's config poll (every 0.25 s) has reached Redis
        redis_up = _count(await _scrape(base), "abgate_redis_up")
        if redis_up == 1:
            break
        await asyncio.sleep(0.1)
    assert redis_up == 1
    for _ in range(4):  # whichever process answers: the sums over both
        samples = await _scrape(base)
        for (experiment, variant), count in arms.items():
            labels = {"experiment": experiment, "variant": variant}
            assert _count(samples, "abgate_experiment_exposures_total", **labels) == count
            for kind in ("click", "purchase"):
                got = _count(samples, "abgate_experiment_events_total", **labels, type=kind)
                assert got == (clicks[(experiment, variant)] if kind == "click" else 0)
        assert _count(samples, "abgate_searches_in_flight") == 0
        assert ("abgate_loop_lag_seconds", ()) in samples
