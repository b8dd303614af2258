"""Traffic goes only to a version that is gated, loaded and warm in every live gateway process:
a change that would route elsewhere is refused (409 naming the processes) and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from gateway.models.store import Heartbeat
from tests.http.test_models import AUTH, card_of, register, wait_for
from tests.tokens import auth


async def test_a_version_not_ready_everywhere_cannot_take_traffic(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    for key in ("better", "worse", "aa"):
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    # Still gating: refused.
    assert (await register(client, card_of(models_dir, "cand-v2", "slow-v1"), onnx)).status == 202
    experiment = {
        "key": "try-slow",
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "slow-v1", "weight": 0.5},
        ],
    }
    assert (await client.post("/v1/experiments", json=experiment, headers=AUTH)).status == 201
    card = await (await client.get("/v1/models/slow-v1", headers=auth("vera"))).json()
    if card["state"] == "gating":  # the gates usually take ~0.2 s
        response = await client.post("/v1/experiments/try-slow/start", headers=AUTH)
        assert response.status == 409
        assert "still being gated" in (await response.json())["error"]["message"]
    await wait_for(client, "slow-v1", lambda c: c["state"] == "passed" and bool(c["loaded_by"]))
    # Another live gateway process that has not loaded it yet: refused, naming it.
    await gateway.model_store.beat(
        Heartbeat("other-host-4242", time.time(), ("prod-v1",), ("slow-v1",))
    )
    version = gateway.router.version
    response = await client.post("/v1/experiments/try-slow/start", headers=AUTH)
    assert response.status == 409
    message = (await response.json())["error"]["message"]
    assert "'slow-v1' is not loaded and warm in every gateway process" in message
    assert "other-host-4242" in message
    assert gateway.router.version == version
    assert gateway.router.config.experiment("try-slow").status == "draft"
    # Once it reports the version loaded, the start goes through.
    await gateway.model_store.beat(
        Heartbeat("other-host-4242", time.time(), ("prod-v1", "slow-v1"), ())
    )
    response = await client.post("/v1/experiments/try-slow/start", headers=AUTH)
    assert response.status == 200, await response.text()


async def test_invalid_version_ids_in_paths_are_refused(client: TestClient) -> None:
    response = await client.get("/v1/models/bad%20id!", headers=auth("vera"))
    assert response.status == 400  # the request is wrong, not a config
    error = (await response.json())["error"]
    assert error["where"] == "version" and "got 'bad id!'" in error["message"]
    assert (await client.get("/v1/models/nope-v1", headers=auth("vera"))).status == 404
