"""Child processes of ``abgate serve`` / ``abgate run``: started, watched, stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import IO

from gateway.errors import GatewayError


class ProcessGroup:
    def __init__(self, output: IO[bytes] | None = None) -> None:
        """``output``: where the children write (their logs), else where this process does."""
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.output = output

    def spawn(self, name: str, args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "gateway.cli", *args]
        # A session of its own: a terminal's Ctrl-C reaches only the parent, which then
        # stops the children in order (traffic, gateways and worker, then Redis).
        process = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=self.output,
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.processes:
            code = process.poll()
            if code is not None:
                where = f"; its log: {self.output.name}" if self.output is not None else ""
                raise GatewayError(f"{name} (pid {process.pid}) exited with code {code}{where}")

    def stop(self, timeout_s: float = 15.0) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for _, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []


def wait_ready(
    url: str,
    group: ProcessGroup,
    processes: int = 1,
    timeout_s: float = 60.0,
    stopped: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll ``url`` until ``processes`` distinct processes of ``group`` (by pid) answered 200,
    or fail.

    With SO_REUSEPORT the port answers as soon as the first process listens; each
    attempt opens a fresh connection, which the kernel spreads over the listeners. An
    answer from a process ``group`` did not start means another deployment holds the port
    (whose gateways then refuse to share it): that fails at once, rather than the caller
    going on to drive someone else's deployment.
    """
    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        if stopped():
            return False
        group.check()
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                pid = int(json.loads(response.read())["pid"]) if response.status == 200 else 0
        except urllib.error.HTTPError as exc:  # not ready yet (503): its response is open
            exc.close()
            pid = 0
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pid = 0
        if pid:
            if pid not in {p.pid for _, p in group.processes}:
                raise GatewayError(
                    f"{url} is answered by process {pid}, which this command did not start: "
                    "another deployment listens on that port (choose another ABGATE_PORT)"
                )
            seen.add(pid)
            if len(seen) >= processes:
                return True
        time.sleep(0.05)
    raise GatewayError(f"{url}: {len(seen)} of {processes} processes ready after {timeout_s:.0f} s")
