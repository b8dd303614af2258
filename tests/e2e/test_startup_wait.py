"""Start-up that waits for Redis: a gateway or worker started before its Redis answers on its
port meanwhile (alive, not ready, saying why), serves once Redis starts, and gives up after
ABGATE_REDIS_WAIT_S with one line, never a traceback."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import EmbeddedRedis, free_port
from gateway.settings import Settings
from tests.live import gateway_env


def _get(url: str, body: bytes | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)


def _until(url: str, group: ProcessGroup, check: Any, limit_s: float = 60.0) -> dict[str, Any]:
    """The first answer from ``url`` that ``check(status, body)`` accepts (polling)."""
    deadline = time.monotonic() + limit_s
    last: object = None
    while time.monotonic() < deadline:
        group.check()
        try:
            status, body, _ = _get(url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        else:
            last = (status, body)
            if check(status, body):
                return body
        time.sleep(0.1)
    raise AssertionError(f"{url}: no answer as expected in {limit_s:g} s; last: {last}")


def test_processes_started_before_redis_serve_once_it_starts(
    settings: Settings, tmp_path: Path
) -> None:
    redis_port = free_port()
    late = replace(settings, redis_url=f"redis://127.0.0.1:{redis_port}/0")
    port, worker_port = free_port(), free_port()
    base, health = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{worker_port}"
    log_path = tmp_path / "processes.log"
    redis = EmbeddedRedis(tmp_path / "redis", port=redis_port)
    with log_path.open("wb") as log:
        group = ProcessGroup(output=log)
        try:
            group.spawn("gateway", ["serve-one"], gateway_env(late, port))
            group.spawn(
                "worker",
                ["worker", "--interval", "0.5", "--metrics-port", str(worker_port)],
                gateway_env(late, 0),
            )
            # Waiting: alive, not ready, and saying for what.
            waiting = _until(
                base + "/readyz", group, lambda s, b: s == 503 and b.get("phase") == "redis"
            )
            assert waiting["ready"] is False
            assert f"waiting for Redis at redis://127.0.0.1:{redis_port}/0" in waiting["why"]
            status, alive, _ = _get(base + "/healthz")
            assert (status, alive["status"]) == (200, "starting")
            search = json.dumps({"user_id": "u1", "query": "tent", "candidates": [1, 2]}).encode()
            status, refused, headers = _get(base + "/v1/search", search)
            assert status == 503 and refused["error"]["type"] == "starting", refused
            assert headers["Retry-After"] == "1"
            with urllib.request.urlopen(base + "/metrics", timeout=2.0) as response:
                scraped = response.read().decode()
            assert 'abgate_searches_total{outcome="unavailable"} 1.0' in scraped
            assert "abgate_redis_up 0.0" in scraped
            worker = _until(health + "/healthz", group, lambda s, b: b.get("starting") is True)
            assert "waiting for Redis" in worker["why"] and worker["healthy"] is True
            with urllib.request.urlopen(health + "/metrics", timeout=2.0) as response:
                assert "abgate_worker_redis_up 0.0" in response.read().decode()
            # Redis starts: both go on by themselves.
            redis.start()
            wait_ready(base + "/readyz", group)
            status, page, _ = _get(base + "/v1/search", search)
            assert status == 200 and page["results"], page
            _until(health + "/healthz", group, lambda s, b: s == 200 and "starting" not in b)
        finally:
            group.stop()
            redis.stop()
    text = log_path.read_text()
    assert "waiting for Redis at" in text
    assert "Traceback" not in text, text[-3000:]


def test_processes_give_up_after_their_deadline_with_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    nowhere = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    log_path = tmp_path / "processes.log"
    with log_path.open("wb") as log:
        group = ProcessGroup(output=log)
        try:
            env = {"ABGATE_REDIS_WAIT_S": "1"}
            gateway = group.spawn("gateway", ["serve-one"], gateway_env(nowhere, free_port()) | env)
            worker = group.spawn("worker", ["worker"], gateway_env(nowhere, 0) | env)
            assert gateway.wait(60) == 2
            assert worker.wait(60) == 2
        finally:
            group.stop()
    text = log_path.read_text()
    gave_up = [line for line in text.splitlines() if line.startswith("abgate: ")]
    assert len(gave_up) == 2, text
    for line in gave_up:
        assert "did not answer within 1 s (ABGATE_REDIS_WAIT_S)" in line, line
    assert "Traceback" not in text, text[-3000:]


def test_a_stopped_serve_stops_its_starting_processes(settings: Settings, tmp_path: Path) -> None:
    """SIGTERM to `abgate serve` while its processes wait for Redis stops them too (they run in
    sessions of their own): nothing is left on the port."""
    nowhere = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        group = ProcessGroup(output=log)
        try:
            serve = group.spawn("serve", ["serve", "--workers", "2"], gateway_env(nowhere, port))
            _until(base + "/readyz", group, lambda s, b: s == 503 and b.get("phase") == "redis")
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(30) == 0
        finally:
            group.stop()
    try:
        _get(base + "/healthz")
    except (urllib.error.URLError, OSError):
        pass  # nothing listens
    else:
        raise AssertionError(f"a gateway process outlived its serve: {log_path.read_text()}")
    assert "Traceback" not in log_path.read_text()
