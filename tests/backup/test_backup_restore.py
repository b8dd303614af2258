"""Backup → wipe → restore → the same deployment, against real Redis, a real gateway (the app on
a loopback port) and the real CLI: state built through the admin API (a registered ONNX model
made production, a token, a dataset, a webhook, an approval policy, running and stopped
experiments), backed up, every key of the prefix and the model store wiped, restored, and a new
gateway on the restored store answers with the same production, experiments, cards, tokens and
audit trail (plus the restore's record), and ranks a search with the same version."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.http.app import build_app
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.settings import ROOT, Settings
from tests.http.conftest import GatewayTestServer
from tests.http.test_datasets import jsonl, rows, upload
from tests.http.test_models import card_of, register, wait_for
from tests.live import user_env
from tests.tokens import auth

ADMIN = auth("carol")
VIEWER = auth("vera")
USERS = [f"shopper-{i}" for i in range(12)]


def abgate(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, configured as an operator's shell would be."""
    assert settings.redis_url
    env = user_env() | {
        "REDIS_URL": settings.redis_url,
        "ABGATE_PREFIX": settings.prefix,
        "ABGATE_MODELS_DIR": str(settings.models_dir),
        "ABGATE_VAR_DIR": str(settings.var_dir),
        "ABGATE_SHARDS": str(settings.shards),
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@asynccontextmanager
async def gateway_on(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(GatewayTestServer(build_app(settings))) as client:
        yield client


async def call(client: TestClient, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    kw.setdefault("headers", ADMIN)
    response = await client.request(method, path, **kw)
    body = await response.json()
    assert response.status == status, (method, path, body)
    return body


async def until_loaded(client: TestClient) -> list[dict[str, Any]]:
    """Every card gated and loaded where it should be (the gates run in child processes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while True:
        cards = (await call(client, "GET", "/v1/models", headers=VIEWER))["models"]
        if all(c["state"] != "gating" for c in cards) and all(
            c["loaded_by"] for c in cards if c["state"] == "passed"
        ):
            return list(cards)
        assert loop.time() < deadline, cards
        await asyncio.sleep(0.2)


async def deployment_view(client: TestClient, token: str) -> dict[str, Any]:
    """What must come back: production and its history, the experiments, the cards (without
    which processes have them loaded), tokens, datasets, webhooks, the approval policy, the
    audit trail, and which version ranks each user's search."""
    cards = await until_loaded(client)
    searches = {}
    for user in USERS:
        body = {"user_id": user, "query": "rain boots", "candidates": list(range(30)), "k": 5}
        answer = await call(client, "POST", "/v1/search", json=body)
        searches[user] = (answer["model_version"], [r["item_id"] for r in answer["results"]])
    audit = await call(client, "GET", "/v1/audit?count=1000", headers=VIEWER)
    return {
        "production": await call(client, "GET", "/v1/production", headers=VIEWER),
        "experiments": await call(client, "GET", "/v1/experiments", headers=VIEWER),
        "cards": [{k: v for k, v in c.items() if k != "loaded_by"} for c in cards],
        "tokens": await call(client, "GET", "/v1/tokens"),
        "whoami": await call(
            client, "GET", "/v1/whoami", headers={"Authorization": f"Bearer {token}"}
        ),
        "datasets": await call(client, "GET", "/v1/datasets", headers=VIEWER),
        "webhooks": await call(client, "GET", "/v1/webhooks"),
        "approval_policy": await call(client, "GET", "/v1/approval-policy", headers=VIEWER),
        "audit": audit["entries"],
        "searches": searches,
    }


async def build_state(client: TestClient, models_dir: Path) -> str:
    """A deployment with one of everything; returns the token it created."""
    await until_loaded(client)
    onnx = (models_dir / "cand-v2" / "model.onnx").read_bytes()
    response = await register(client, card_of(models_dir, "cand-v2", "cand-v9"), onnx)
    assert response.status == 202, await response.text()
    await wait_for(client, "cand-v9", lambda c: c["state"] == "passed" and c["loaded_by"])
    await call(client, "PUT", "/v1/production", json={"version": "cand-v9", "reason": "ship it"})
    await call(client, "POST", "/v1/experiments/worse/stop", json={"reason": "it is worse"})
    created = await upload(client, {"id": "heldout-q4", "reason": "for the gates"}, jsonl(rows()))
    assert created.status == 201, await created.text()
    token = await call(
        client, "POST", "/v1/tokens", json={"name": "newbie", "role": "viewer"}, status=201
    )
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook", "events": ["decision"]}
    await call(client, "POST", "/v1/webhooks", json=hook, status=201)
    policy = {"production": True, "reason": "four eyes"}
    await call(client, "PUT", "/v1/approval-policy", json=policy)
    return str(token["token"])


async def wipe(settings: Settings) -> None:
    """Every key of the test's own prefix, control plane and shards."""
    redis = redis_client(str(settings.redis_url))
    try:
        keys = Keys(settings.prefix, settings.shards)
        patterns = [f"{keys.base}*", *(f"{s.tag}*" for s in keys.all_shards)]
        names = [n for p in patterns async for n in redis.scan_iter(match=p, count=1000)]
        assert names
        await redis.delete(*names)
    finally:
        await redis.aclose()


async def test_backup_wipe_restore_gives_back_the_same_deployment(
    settings: Settings, models_dir: Path, tmp_path: Path
) -> None:
    async with gateway_on(settings) as client:
        token = await build_state(client, models_dir)
        before = await deployment_view(client, token)
    assert {v for v, _ in before["searches"].values()} >= {"cand-v9"}

    file = tmp_path / "backups" / "abgate.backup"
    file.parent.mkdir()
    done = abgate(settings, "backup", str(file))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "holds secrets" in done.stdout
    assert "left out" not in done.stdout, done.stdout  # every key is one gateway.keys knows
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    again = abgate(settings, "backup", str(file))  # never overwrites
    assert again.returncode == 2 and "exists" in again.stderr, again.stderr

    await wipe(settings)
    restored = replace(settings, models_dir=tmp_path / "fresh-model-store")
    check = abgate(restored, "restore", "--check", str(file))
    assert check.returncode == 0 and check.stdout.startswith("checked:"), check.stderr
    assert not restored.models_dir.exists()  # --check writes nothing
    done = abgate(restored, "restore", str(file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"restored into prefix {settings.prefix!r}")
    refused = abgate(restored, "restore", str(file))  # the store is not empty any more
    assert refused.returncode == 2 and "is not empty" in refused.stderr, refused.stderr

    async with gateway_on(restored) as client:
        after = await deployment_view(client, token)
    restore_entry, *older = after["audit"]
    assert restore_entry["actor"] == "backup-restore"
    assert "restored from backup abgate.backup" in restore_entry["reason"]
    assert older == before["audit"]
    for part in ("production", "experiments", "cards", "tokens", "whoami", "datasets"):
        assert after[part] == before[part], part
    assert after["webhooks"] == before["webhooks"]
    assert after["approval_policy"] == before["approval_policy"]
    assert after["searches"] == before["searches"]
    assert after["whoami"]["name"] == "newbie"
    # The artefacts came back by hash into the fresh model store.
    for card in after["cards"]:
        assert (restored.models_dir / "sha256" / f"{card['sha256']}.onnx").is_file()
    assert os.listdir(restored.models_dir / "datasets" / "sha256")
