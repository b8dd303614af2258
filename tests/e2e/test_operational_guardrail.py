"""A candidate that fails on most batches (a real ONNX model whose item table is shorter than
its declared catalogue, so ONNX Runtime refuses the batches holding the last item ids) is
rolled back by its operational guardrail within seconds, with nothing statistical needed;
the shoppers never see an error (production serves the failed searches). An on-call webhook
receives the rollback and its alert, signed, after a retry."""

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


def _build(path: Path) -> None:
    import torch
    from torch import nn

    class ShortTable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(2950, 1)  # ids 2949.. (rows 2950..3000) are out of range

        def forward(self, item_index: torch.Tensor) -> torch.Tensor:
            return self.items(item_index).squeeze(-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ShortTable().eval(),
            (torch.zeros(2, dtype=torch.long),),
            str(path),
            input_names=["item_index"],
            output_names=["score"],
            dynamic_axes={"item_index": {0: "n"}, "score": {0: "n"}},
            dynamo=False,
            opset_version=17,
        )


@pytest.fixture
def live(settings: Settings) -> Iterator[System]:
    fresh = replace(settings, routing_file=TEST_CONFIGS / "production_only.toml")
    with running_system(fresh) as system:
        # Its worker retries a failed webhook delivery within a fraction of a second.
        env = gateway_env(system.settings, 0) | {"ABGATE_WEBHOOK_RETRY_S": "0.2"}
        system.group.spawn("worker", ["worker", "--interval", "1"], env)
        yield system


async def test_a_failing_candidate_is_rolled_back_within_seconds(
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
