"""SIGTERM to a real gateway process while a client trickles its body: answered, and it exits."""

from __future__ import annotations

import signal
import socket
import subprocess

from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import free_port
from gateway.settings import Settings
from tests.live import gateway_env


def test_sigterm_answers_a_slow_body_with_503_and_exits(settings: Settings) -> None:
    port = free_port()
    group = ProcessGroup()
    env = gateway_env(settings, port) | {"ABGATE_BODY_TIMEOUT_S": "120"}
    process = group.spawn("gateway", ["serve-one"], env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", group)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            slow.sendall(
                b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            # Once the gateway answers this, the slow request's handler is surely waiting.
            with socket.create_connection(("127.0.0.1", port), timeout=30) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert probe.recv(100).startswith(b"HTTP/1.1 200")
            process.send_signal(signal.SIGTERM)
            answer = slow.recv(4096)
        # Without the drain the handler would wait for the body until the shutdown
        # timeout and be cancelled: the client would get its connection closed, no answer.
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"shutting down" in answer
        assert process.wait(timeout=30) == 0
    finally:
        try:
            group.stop()
        except subprocess.TimeoutExpired:
            process.kill()
