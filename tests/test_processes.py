"""Waiting for a deployment's processes: an answer from a process this command did not start
means another deployment holds the port, and fails at once (``abgate run`` once went on to
drive a served deployment that answered on its port)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


def test_a_group_with_an_output_file_sends_its_childrens_logs_there(tmp_path: Path) -> None:
    """``abgate run`` keeps the terminal for its story: its processes write to a log file, and
    a process that dies is named with that file."""
    log = tmp_path / "demo.log"
    with log.open("ab") as output:
        group = ProcessGroup(output=output)
        process = group.spawn("worker", ["worker", "--interval", "often"], {})
        process.wait(60)
        with pytest.raises(GatewayError, match=f"worker .* exited with code 2; its log: {log}"):
            group.check()
    assert "argument --interval: invalid float value: 'often'" in log.read_text()
