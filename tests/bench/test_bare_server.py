"""The throughput benchmark's baseline server answers the gateway's shapes over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import orjson

from bench.throughput import CLICK, search_body
from gateway.redis_server import free_port


def _post(port: int, path: str, body: object) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, orjson.loads(response.read())


def test_the_bare_server_does_the_same_round_trip() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.bare_server", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, answer = _post(port, "/v1/search", search_body(50))
                break
            except OSError:
                assert time.monotonic() < deadline, "the bare server did not start"
                time.sleep(0.1)
        assert status == 200 and isinstance(answer, dict)
        assert [r["item_id"] for r in answer["results"]] == list(range(10))
        assert _post(port, "/v1/events", CLICK) == (202, {"accepted": 1})
    finally:
        server.terminate()
        assert server.wait(10) == 0
