"""The gateway process's side of shadow traffic: one line per sampled search to its shadow
worker (:mod:`gateway.ops.shadow_worker`), never awaited.

The worker is started with the process and again, at most every RESTART_S, if it dies. A job
is dropped and counted (``dropped`` in the version's figures) when the worker is not running
or the bytes not yet taken by it pass MAX_PENDING_BYTES: shadow work is the first to go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Final

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.metrics import MULTIPROC_ENV
from gateway.ops.shadow import ShadowFigures, ShadowJob
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.shadow")

MAX_PENDING_BYTES: Final = 1 << 20
WRITE_EVERY_S: Final = 0.01  # lines are gathered and written together: fewer wake-ups
RESTART_S: Final = 5.0
STOP_S: Final = 3.0


class ShadowClient:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        redis_url: str,
        models_dir: Path,
        intra_op_threads: int = 1,
        cpu_share: float = 0.05,
    ) -> None:
        self.figures = ShadowFigures(redis, keys)
        self._argv = [
            sys.executable,
            "-m",
            "gateway.cli",
            "shadow-worker",
            "--prefix",
            keys.prefix,
            "--models-dir",
            str(models_dir),
            "--intra-op-threads",
            str(intra_op_threads),
            "--cpu-share",
            repr(cpu_share),
        ]
        # The Redis URL (it may hold a password) by the environment, not the process list; no
        # metrics files beside the gateways' (its own gauges would read as theirs).
        self._env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV} | {
            "REDIS_URL": redis_url
        }
        self._process: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._started_at = -RESTART_S
        self._tasks: list[asyncio.Task[None]] = []
        self._lines: list[tuple[str, bytes]] = []  # (version, line), to count a drop
        self._line_bytes = 0
        self._write_scheduled = False
        self.offered = 0

    def start(self, shadowing: bool) -> None:
        """Start flushing figures, and the worker if a version is shadowed already; otherwise
        the worker starts when one is (:meth:`shadowing`): a deployment that shadows nothing
        runs no worker (a process of its own, with its own copy of the models)."""
        self._tasks = [asyncio.get_running_loop().create_task(self.figures.flush_loop())]
        if shadowing:
            self._spawn()

    def shadowing(self) -> None:
        """The config now shadows a version: have the worker up before its first search."""
        if self._process is None or self._process.returncode is not None:
            self._running()

    async def started(self) -> None:
        """:meth:`shadowing`, returning once the worker's process exists: its pipe takes lines
        from then on, before the worker has loaded its models."""
        self.shadowing()
        if self._starting is not None:
            await asyncio.shield(self._starting)

    def _spawn(self) -> None:
        if self._starting is not None and not self._starting.done():
            return
        self._started_at = time.monotonic()
        self._starting = asyncio.get_running_loop().create_task(self._start_process())

    async def _start_process(self) -> None:
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                env=self._env,
            )
        except OSError as exc:
            log.error("shadow worker not started: %s", exc)

    def _running(self) -> asyncio.subprocess.Process | None:
        process = self._process
        if process is not None and process.returncode is None and process.stdin is not None:
            return process
        if process is not None and process.returncode is not None:
            log.warning("shadow worker exited (%s); restarting", process.returncode)
            self._process = None
        if time.monotonic() - self._started_at >= RESTART_S:
            self._spawn()
        return None

    def offer(self, job: ShadowJob) -> None:
        """Hand ``job`` to the worker, or drop it (counted); never blocks, never raises."""
        process = self._running()
        stdin = None if process is None else process.stdin
        if stdin is None or stdin.is_closing():
            self.figures.ints[(job.version, "dropped")] += 1
            return
        if stdin.transport.get_write_buffer_size() + self._line_bytes > MAX_PENDING_BYTES:
            self.figures.ints[(job.version, "dropped")] += 1
            return
        line = job.encode()
        self._lines.append((job.version, line))
        self._line_bytes += len(line)
        self.offered += 1
        if not self._write_scheduled:
            self._write_scheduled = True
            asyncio.get_running_loop().call_later(WRITE_EVERY_S, self._write)

    def _write(self) -> None:
        self._write_scheduled = False
        lines, self._lines, self._line_bytes = self._lines, [], 0
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            for version, _ in lines:  # the worker died meanwhile
                self.figures.ints[(version, "dropped")] += 1
            return
        process.stdin.write(b"".join(line for _, line in lines))

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        if self._starting is not None:
            await cancel_and_wait([self._starting])
        if self._lines:
            self._write()
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # end of input: the worker scores what it has and ends
            try:
                await asyncio.wait_for(process.wait(), STOP_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self.figures.final_flush()
