"""A deployment of one's own from nothing: `abgate serve` (and `abgate worker`) on an empty
store with no demo model anywhere, as real processes on real Redis over real HTTP. Searches
answer 503 until a version is registered and set as production through the API; then every
gateway process serves. A start with a broken seed writes nothing, and the corrected start
needs nothing deleted by hand."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import redis

from gateway.redis_server import EmbeddedRedis, free_port
from gateway.settings import ROOT
from tests.http.test_models import form
from tests.live import user_env

ADMIN = {"Authorization": "Bearer from-nothing-admin-secret"}
SEARCH = {"user_id": "u1", "query": "tent", "candidates": [1, 2, 3]}
START_S = 120.0


def _env(redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, port: int) -> dict[str, str]:
    """No ABGATE_ROUTING (the shipped file names no production) and no demo models: the seed
    models folder is an empty one."""
    env = user_env()
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp_path / "no-demo-models").mkdir(exist_ok=True)
    return env | {
        "REDIS_URL": redis_server.url,
        "ABGATE_PREFIX": prefix,
        "ABGATE_VAR_DIR": str(tmp_path / "var"),
        "ABGATE_SEED_MODELS": str(tmp_path / "no-demo-models"),
        "ABGATE_ADMIN_TOKEN": ADMIN["Authorization"].split()[1],
        "ABGATE_SERVING_AUTH": "open",
        "ABGATE_PORT": str(port),
    }


@contextmanager
def _abgate(env: dict[str, str], *args: str, until: str | None) -> Iterator[list[str]]:
    """``abgate ARGS`` in a session of its own, once it has printed a line starting ``until``
    (at once for None); yields the lines so far. It must still run at the end; it is stopped
    (SIGTERM to its group) on exit. Its log (stderr) goes to a file, read back on failure."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True,
        )  # fmt: skip
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        def tail() -> str:
            log.seek(0)
            return log.read()[-3000:]

        threading.Thread(target=read, daemon=True).start()
        seen: list[str] = []
        try:
            deadline = time.monotonic() + START_S
            while until is not None and not (seen and seen[-1].startswith(until)):
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                assert line is not None, (seen, process.wait(5), tail())
                seen.append(line)
            yield seen
            assert process.poll() is None, (f"abgate {args[0]} exited", tail())
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
            if process.stdout is not None:
                process.stdout.close()


def _keys(redis_server: EmbeddedRedis, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_server.url)
    try:
        return list(client.scan_iter(match=f"{{{prefix}*"))
    finally:
        client.close()


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any
) -> Any:
    async with session.request(method, url, **kwargs) as response:
        body = await response.json()
        assert response.status == status, (method, url, response.status, body)
        return body


async def _every_process_serves(base: str, processes: int) -> None:
    """Each new connection lands on one of the processes (SO_REUSEPORT): ask until every one
    has said it is ready and serves searches, and search through each."""
    ready: set[int] = set()
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
        while len(ready) < processes:
            assert time.monotonic() < deadline, ready
            body = await _call(fresh, "GET", f"{base}/readyz", 200)
            assert body["ready"] and body["searches"], body
            ready.add(body["pid"])
        for i in range(20):
            page = await _call(
                fresh, "POST", f"{base}/v1/search", 200, json=SEARCH | {"user_id": f"u{i}"}
            )
            assert len(page["results"]) == 3 and page["assignments"] == []


async def test_from_an_empty_store_register_set_production_and_serve(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, models_dir: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(redis_server, prefix, tmp_path, port)
    with (
        _abgate(env, "serve", "--workers", "2", until="abgate gateway: 2 processes") as said,
        _abgate(env, "worker", "--interval", "1", until=None),
    ):
        assert any(line.startswith("no production version yet") for line in said), said
        async with aiohttp.ClientSession() as session:
            refused = await _call(session, "POST", f"{base}/v1/search", 503, json=SEARCH)
            assert refused["error"]["type"] == "no_production"
            assert "abgate production set" in refused["error"]["message"]
            ready = await _call(session, "GET", f"{base}/readyz", 200)
            assert ready["ready"] and not ready["searches"] and ready["production"] is None
            assert ready["why"].startswith("no production version yet")
            routing = await _call(session, "GET", f"{base}/v1/production", 200, headers=ADMIN)
            assert routing["production"] is None and routing["history"] == []

            card = json.loads((models_dir / "prod-v1" / "card.json").read_text())
            onnx = (models_dir / "prod-v1" / "model.onnx").read_bytes()
            data = form(card | {"version": "mine-v1"}, onnx)
            await _call(session, "POST", f"{base}/v1/models", 202, data=data, headers=ADMIN)
            deadline = time.monotonic() + 60
            while True:
                card = await _call(session, "GET", f"{base}/v1/models/mine-v1", 200, headers=ADMIN)
                if card["state"] == "passed" and len(card["loaded_by"]) == 2:
                    break
                assert card["state"] == "gating" or card["state"] == "passed", card
                assert time.monotonic() < deadline, card
                await asyncio.sleep(0.2)
            assert card["gates"]["against"] is None  # no production to compare with
            await _call(session, "POST", f"{base}/v1/search", 503, json=SEARCH)  # not yet set
            body = {"version": "mine-v1", "reason": "our first production"}
            moved = await _call(
                session, "PUT", f"{base}/v1/production", 200, json=body, headers=ADMIN
            )
            assert moved["production"] == "mine-v1"
        await _every_process_serves(base, processes=2)


def test_a_failed_seed_writes_nothing_and_the_corrected_start_serves(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, models_dir: Path
) -> None:
    seed = tmp_path / "seed"
    shutil.copytree(models_dir / "prod-v1", seed / "prod-v1")
    (seed / "routing.toml").write_text('production = "mine-v1"\n')  # not in the folder
    port = free_port()
    env = _env(redis_server, prefix, tmp_path, port)
    failed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "1", "--seed", str(seed)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2, failed.stderr[-2000:]
    assert "abgate: model version 'mine-v1': is named by the routing config" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert _keys(redis_server, prefix) == []
    (seed / "routing.toml").unlink()  # the corrected seed: its one version is production
    with _abgate(env, "serve", "--workers", "1", "--seed", str(seed), until="abgate gateway:"):
        asyncio.run(_every_process_serves(f"http://127.0.0.1:{port}", processes=1))
    assert any(b"config" in k for k in _keys(redis_server, prefix))
