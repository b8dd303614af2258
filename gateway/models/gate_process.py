"""Running a version's gates in a child process (:mod:`gateway.models.gate_runner`) under a
deadline, without blocking the event loop.

Past the deadline the child gets SIGTERM, then SIGKILL after a short grace, and the gate it
was running fails with that reason; a child that dies on its own (a crash, the out-of-memory
killer) fails it with how it died. Cancelling the run (the gateway stops) kills the child at
once. No reason names a process id or a path on this server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Final

import orjson

from gateway.metrics import MULTIPROC_ENV
from gateway.models.gate_runner import ORPHANED, GateJob, failure

log = logging.getLogger("abgate.models")

RUNNER: Final = "gateway.models.gate_runner"
# After SIGTERM past the deadline, how long the child may take to exit before SIGKILL.
KILL_GRACE_S: Final = 1.0
# The child's start-up (an interpreter importing ONNX Runtime, slow on a loaded machine) until
# it starts its first gate: bounded apart from the gates' own deadline.
STARTUP_S: Final = 120.0
# The longest line the child may write (a gate record is a few kilobytes).
MAX_LINE_BYTES: Final = 1 << 20


def _child_env() -> dict[str, str]:
    # The child is no gateway process: it must not write metrics files beside theirs.
    return {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}


def _died(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        cause = " (as the out-of-memory killer does)" if -code == signal.SIGKILL else ""
        return f"the gate process was killed by {name}{cause} before the gates finished"
    if code == ORPHANED:
        return "the gate process lost its gateway before the gates finished"
    return f"the gate process exited with code {code} before the gates finished"


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not exited within the grace."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _running_gate(heard: list[str]) -> str:
    """The gate a stopped or dead child was running: the last it started (before its first,
    it was loading the model: integrity)."""
    return heard[-1] if heard else "integrity"


class _NoRecord(Exception):
    """The child wrote something that is not the protocol."""


async def _follow(
    process: asyncio.subprocess.Process,
    job: GateJob,
    heard: list[str],
    started: Callable[[], None],
) -> Any:
    """Send the job, note each gate the child starts (last in ``heard``; ``started`` is called
    at the first), return its record."""
    assert process.stdin is not None and process.stdout is not None
    record = None
    # stdin stays open while the child runs: it exits by itself once it reads EOF.
    process.stdin.write(job.to_json() + b"\n")
    await process.stdin.drain()
    while line := await process.stdout.readline():
        message = orjson.loads(line)
        if isinstance(message, dict) and isinstance(message.get("gate"), str):
            if not heard:
                started()
            heard.append(message["gate"])
        elif isinstance(message, dict) and isinstance(message.get("record"), dict):
            record = message["record"]
        else:
            raise _NoRecord(line[:80])
    return record


async def gate_in_child(job: GateJob, timeout_s: float) -> dict[str, Any]:
    """The job's gate record; gates that run past ``timeout_s`` (monotonic, from the child's
    first gate: its interpreter's start-up, bounded by STARTUP_S, is not the model's time) or a
    child that dies fail the gate it was running, with the reason."""
    record, _ = await run_in_child(job, timeout_s)
    return record


async def run_in_child(job: GateJob, timeout_s: float) -> tuple[dict[str, Any], bool]:
    """(the job's gate record, whether the child finished it: wrote it and exited 0)."""
    loop = asyncio.get_running_loop()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        RUNNER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=_child_env(),
        limit=MAX_LINE_BYTES,
    )
    heard: list[str] = []
    try:
        async with asyncio.timeout_at(loop.time() + STARTUP_S) as bound:

            def started() -> None:
                bound.reschedule(loop.time() + timeout_s)

            record = await _follow(process, job, heard, started)
            code = await process.wait()
    except TimeoutError:
        await _stop(process)
        if not heard:
            log.warning("the gate process of %s did not start", job.candidate.version)
            return failure(
                job.against,
                "integrity",
                f"the gate process did not start within {STARTUP_S:g} s; it was stopped",
            ), False
        log.warning("gates of %s did not finish within %g s", job.candidate.version, timeout_s)
        return failure(
            job.against,
            _running_gate(heard),
            f"gates did not finish within {timeout_s:g} s (ABGATE_GATE_TIMEOUT_S); "
            "the gate process was stopped",
            timeout_s=timeout_s,
        ), False
    except (_NoRecord, orjson.JSONDecodeError, ValueError, ConnectionError) as exc:
        # ValueError: a line over the limit; ConnectionError: it died before reading its job.
        log.error("the gate process of %s misbehaved: %r", job.candidate.version, exc)
        await _stop(process)
        record, code = None, process.returncode or 0
        if not code:
            return failure(
                job.against, _running_gate(heard), "the gate process wrote no gate record"
            ), False
    except BaseException:  # cancelled: the gateway is stopping, the child goes at once
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    finally:
        assert process.stdin is not None
        process.stdin.close()
    if code != 0:
        return failure(job.against, _running_gate(heard), _died(code)), False
    if record is None:
        return failure(
            job.against, _running_gate(heard), "the gate process wrote no gate record"
        ), False
    return dict(record), True
