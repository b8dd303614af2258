"""1 100 clients that trickle their headers, against a gateway process limited to 1 024 file
descriptors: searches go on being served, on a pooled connection and on fresh ones, and every
trickling client is cut (408 at the header deadline, or closed to make room) although it never
stops sending. On main they were held for as long as they liked and no search was served."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Final

from gateway.redis_server import free_port
from gateway.settings import Settings
from tests.live import gateway_env

TRICKLERS: Final = 1_100
FD_LIMIT: Final = 1_024
HEADER_TIMEOUT_S: Final = 6.0
SEARCH: Final = json.dumps({"user_id": "u-1", "query": "shoes", "candidates": [1, 2, 3]})


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as exc:  # not ready yet: its response is open
            exc.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the gateway did not get ready")


def _search(conn: http.client.HTTPConnection) -> int:
    conn.request("POST", "/v1/search", SEARCH, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def _closed(sock: socket.socket) -> bytes | None:
    """What the server said before closing (b'' for nothing), or None while it is open."""
    with contextlib.suppress(OSError):
        sock.send(b"X")  # one more byte of the header that never ends
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    return data


def test_trickling_clients_are_cut_and_searches_go_on(settings: Settings) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < TRICKLERS + 200:
        raise AssertionError(
            f"the test needs {TRICKLERS + 200} descriptors, the hard limit is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, TRICKLERS + 200), hard))
    port = free_port()
    env = (
        os.environ
        | gateway_env(settings, port)
        | {"ABGATE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve-one"],
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limited,
    )
    tricklers: list[socket.socket] = []
    try:
        _wait_ready(port, process)
        pooled = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        assert _search(pooled) == 200
        flood_started = time.monotonic()
        for _ in range(TRICKLERS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            tricklers.append(sock)
        flood_s = time.monotonic() - flood_started
        answers: dict[int, bytes] = {}
        statuses: list[int] = []
        deadline = time.monotonic() + HEADER_TIMEOUT_S * 10
        while len(answers) < TRICKLERS and time.monotonic() < deadline:
            for i, sock in enumerate(tricklers):
                if i not in answers and (said := _closed(sock)) is not None:
                    answers[i] = said
            statuses.append(_search(pooled))
            fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            statuses.append(_search(fresh))
            fresh.close()
            time.sleep(0.2)
        assert len(answers) == TRICKLERS, f"{TRICKLERS - len(answers)} trickling clients still held"
        assert statuses and set(statuses) == {200}, statuses
        timed_out = sum(1 for a in answers.values() if a.startswith(b"HTTP/1.1 408"))
        print(f"\n{TRICKLERS} trickling clients: {timed_out} cut at the header deadline (408), "
              f"{TRICKLERS - timed_out} closed to make room; {len(statuses)} searches served; the flood took {flood_s:.1f} s")  # fmt: skip
        assert timed_out > 0
        assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers.values())
        pooled.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        for sock in tricklers:
            sock.close()
        if process.poll() is None:
            process.kill()
            process.wait()
