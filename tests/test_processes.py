"""Waiting for a deployment's processes: an answer from a process this command did not start
means another deployment holds the port, and fails at once (``abgate run`` once went on to
drive a served deployment that answered on its port)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.errors import GatewayError
from gateway.processes import ProcessGroup, wait_ready


class _Other(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # another deployment's gateway: ready, and not ours
        body = json.dumps({"ready": True, "pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_deployment() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_port_answered_by_another_deployment_fails_at_once(other_deployment: int) -> None:
    with pytest.raises(GatewayError, match="which this command did not start"):
        wait_ready(f"http://127.0.0.1:{other_deployment}/readyz", ProcessGroup(), timeout_s=30)
