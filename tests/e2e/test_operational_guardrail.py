"""A candidate that fails on most batches (a real ONNX model whose item table is shorter than
its declared catalogue, so ONNX Runtime refuses the batches holding the last item ids) is
rolled back by its operational guardrail within seconds, with nothing statistical needed;
the shoppers never see an error (production serves the failed searches). An on-call webhook
receives the rollback and its alert, signed, after a retry. Then, on the same live system,
a candidate that scores many times slower than production is rolled back by the always-valid
latency test, the evaluation's ops figures saying why."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import System, running_system
from tests.e2e.test_lifecycle import Api
from tests.live import gateway_env
from tests.webhooks.conftest import serving_receiver

CARD = {
    "version": "broken-v1",
    "inputs": [{"name": "item_index", "source": "item_ids", "num_items": 3000}],
    "output": "score",
}
SLOW_CARD = CARD | {"version": "slow-v1"}


def _export(module: Any, path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(2, dtype=torch.long),),
            str(path),
            input_names=["item_index"],
            output_names=["score"],
            dynamic_axes={"item_index": {0: "n"}, "score": {0: "n"}},
            dynamo=False,
            opset_version=17,
        )


def _build_slow(path: Path) -> None:
    """A ranker doing a few hundred times production's work per item: one dense 256-wide
    layer applied 96 times after its item table (weights shared: the file stays under the
    megabyte that a bytes upload may be; its scores are noise, only its time matters)."""
    import torch
    from torch import nn

    class Slow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(3001, 16)
            self.widen = nn.Linear(16, 256)
            self.layer = nn.Linear(256, 256)
            self.out = nn.Linear(256, 1)

        def forward(self, item_index: torch.Tensor) -> torch.Tensor:
            x = self.widen(self.items(item_index))
            for _ in range(96):
                x = torch.tanh(self.layer(x))
            return self.out(x).squeeze(-1)

    _export(Slow(), path)


def _build(path: Path) -> None:
    import torch
    from torch import nn

    class ShortTable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(2950, 1)  # ids 2949.. (rows 2950..3000) are out of range

        def forward(self, item_index: torch.Tensor) -> torch.Tensor:
            return self.items(item_index).squeeze(-1)

    _export(ShortTable(), path)


@pytest.fixture
def live(settings: Settings) -> Iterator[System]:
    fresh = replace(settings, routing_file=TEST_CONFIGS / "production_only.toml")
    with running_system(fresh) as system:
        # Its worker retries a failed webhook delivery within a fraction of a second.
        env = gateway_env(system.settings, 0) | {"ABGATE_WEBHOOK_RETRY_S": "0.2"}
        system.group.spawn("worker", ["worker", "--interval", "1"], env)
        yield system


async def test_a_failing_then_a_slow_candidate_are_rolled_back(
    live: System, tmp_path: Path
) -> None:
    from tests.http.test_models import form

    onnx = tmp_path / "broken.onnx"
    _build(onnx)
    async with aiohttp.ClientSession() as session, serving_receiver() as receiver:
        api = Api(session, live.base_url)
        # An on-call webhook for decisions and alerts, whose first answer is a 500.
        hook = {"name": "oncall", "url": receiver.url, "events": ["decision", "alert.guardrail"]}
        secret = (await api.call("POST", "/v1/webhooks", 201, json=hook))["secret"]
        receiver.statuses = [500]
        await api.call("POST", "/v1/models", 202, data=form(CARD, onnx.read_bytes()))
        card = await api.until("/v1/models/broken-v1", lambda c: c["state"] != "gating")
        assert card["state"] == "failed"  # its sanity gate already saw it fail
        await api.call(
            "POST", "/v1/models/broken-v1/override", json={"reason": "prove the guardrail"}
        )
        await api.until("/v1/models/broken-v1", lambda c: len(c["loaded_by"]) == 2)
        experiment: dict[str, Any] = {
            "key": "broken",
            "min_units_per_arm": 100_000,  # no statistical decision could come in this test
            "variants": [
                {"name": "control", "model_version": "prod-v1", "weight": 0.5},
                {"name": "candidate", "model_version": "broken-v1", "weight": 0.5},
            ],
        }
        await api.call("POST", "/v1/experiments", 201, json=experiment)
        await api.call("POST", "/v1/experiments/broken/start")
        started = time.monotonic()
        stop = asyncio.Event()
        traffic = ShopperTraffic(live.base_url, seed=5, concurrency=8)
        shopping = asyncio.create_task(traffic.run(stop))
        try:
            data = await api.until(
                "/v1/experiments/broken", lambda e: e["status"] == "concluded", limit_s=30.0
            )
        finally:
            stop.set()
            await shopping
        took = time.monotonic() - started
        assert data["outcome"] == "rolled_back", data
        reasons = data["last_evaluation"]["decision"]["reasons"]
        assert reasons and reasons[0].startswith("operational guardrail: candidate fails"), reasons
        assert traffic.stats.errors == 0, traffic.stats.error_samples  # production served them
        assert (await api.call("GET", "/v1/production"))["production"] == "prod-v1"
        audit = (await api.call("GET", "/v1/audit?count=5"))["entries"]
        assert any(
            e["actor"] == "decision-loop" and "operational guardrail" in e["reason"] for e in audit
        )
        print(f"rolled back {took:.1f} s after the start; searches {traffic.stats.searches}")
        ops = {o["variant"]: o for o in data["last_evaluation"]["ops"]}
        assert list(ops) == ["control", "candidate"] and ops["control"]["latency"] is None
        assert ops["candidate"]["errors"] > 0 and ops["candidate"]["error_rate"] > 0.02
        assert ops["control"]["requests"] > 0 and ops["control"]["p99_ms"] > 0
        # The rollback and its alert reached the webhook, signed; the first request (answered
        # 500) was tried again with the same delivery id and body.
        await receiver.wait_for(3, limit_s=30.0)
        log = await api.until(
            "/v1/webhooks/oncall/deliveries", lambda d: len(d["attempts"]) >= 3 and not d["waiting"]
        )
    events = receiver.signed_events(secret)
    tries: dict[str, list[bytes]] = {}
    for request, _ in events:
        tries.setdefault(request.headers["X-Abgate-Delivery"], []).append(request.body)
    assert sorted(len(bodies) for bodies in tries.values()) == [1, 2], tries
    assert all(len(set(bodies)) == 1 for bodies in tries.values())
    by_type = {e["type"]: e["data"] for _, e in events}
    assert set(by_type) == {"decision", "alert.guardrail"}
    assert by_type["decision"]["outcome"] == "rolled_back"
    assert by_type["decision"]["experiments"] == ["broken"]
    assert by_type["alert.guardrail"]["alert"] == "operational"
    assert by_type["alert.guardrail"]["experiment"] == "broken"
    outcomes = sorted((a["outcome"], a["status"]) for a in log["attempts"])
    assert outcomes == [("delivered", 200), ("delivered", 200), ("retried", 500)]
    async with aiohttp.ClientSession() as session:
        await _slow_candidate_is_rolled_back(Api(session, live.base_url), live, tmp_path)


async def _slow_candidate_is_rolled_back(api: Api, live: System, tmp_path: Path) -> None:
    from tests.http.test_models import form

    onnx = tmp_path / "slow.onnx"
    _build_slow(onnx)
    await api.call("POST", "/v1/models", 202, data=form(SLOW_CARD, onnx.read_bytes()))
    card = await api.until("/v1/models/slow-v1", lambda c: c["state"] != "gating", limit_s=120.0)
    if card["state"] != "ready":  # its offline quality is noise: let it take traffic anyway
        await api.call("POST", "/v1/models/slow-v1/override", json={"reason": "prove latency"})
    await api.until("/v1/models/slow-v1", lambda c: len(c["loaded_by"]) == 2)
    experiment: dict[str, Any] = {
        "key": "slow",
        "min_units_per_arm": 100_000,
        # On a busy test machine queueing takes most of a scoring's time, production's too:
        # a margin of 1.5 (3 by default) is well below the p99 ratio seen here (2.5 or more).
        "max_latency_ratio": 1.5,
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "slow-v1", "weight": 0.5},
        ],
    }
    await api.call("POST", "/v1/experiments", 201, json=experiment)
    await api.call("POST", "/v1/experiments/slow/start")
    stop = asyncio.Event()
    traffic = ShopperTraffic(live.base_url, seed=6, concurrency=8)
    shopping = asyncio.create_task(traffic.run(stop))
    try:
        data = await api.until(
            "/v1/experiments/slow", lambda e: e["status"] == "concluded", limit_s=120.0
        )
    finally:
        stop.set()
        await shopping
    assert data["outcome"] == "rolled_back", data
    reasons = data["last_evaluation"]["decision"]["reasons"]
    assert reasons[0].startswith(
        "operational guardrail: candidate scores slower than control: p99 "
    ), reasons
    assert "always-valid interval [" in reasons[0] and "above the limit 1.5" in reasons[0]
    ops = {o["variant"]: o for o in data["last_evaluation"]["ops"]}
    latency = ops["candidate"]["latency"]
    assert latency["breached"] and latency["quantile"] == 0.99 and latency["margin"] == 1.5
    assert latency["ci_low"] > 1.5 and latency["p_value"] <= 0.05
    assert ops["candidate"]["p99_ms"] > 1.5 * ops["control"]["p99_ms"]
    assert traffic.stats.errors == 0, traffic.stats.error_samples
    print(f"slow candidate rolled back: {reasons[0]}")
