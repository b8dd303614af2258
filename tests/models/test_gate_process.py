"""Gates run in a child process with real ONNX models: a never-ending model fails at the
deadline, a child that dies fails with how it died, cancelling the run (the gateway stops)
kills the child at once, and a child whose gateway died exits by itself."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.inference.session import SessionOptions
from gateway.models.card import ModelCard, parse_declaration, read_declaration
from gateway.models.gate_policy import GatePolicy
from gateway.models.gate_process import RUNNER, gate_in_child
from gateway.models.gate_runner import ORPHANED, GateJob
from gateway.settings import ROOT
from tests.models.hostile import gate_processes, never_ending_card, never_ending_model

EVAL_FILE = ROOT / "configs" / "eval" / "storefront-heldout.jsonl"


def job_for(tmp_path: Path, onnx: bytes, declared: dict[str, Any]) -> GateJob:
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx)
    card = ModelCard(
        parse_declaration(declared),
        hashlib.sha256(onnx).hexdigest(),
        len(onnx),
        {},
        "test",
        time.time(),
    )
    return GateJob(
        card, path, None, None, EVAL_FILE, GatePolicy(), SessionOptions(prefer_cuda=False)
    )


def never_ending_job(tmp_path: Path) -> GateJob:
    return job_for(tmp_path, never_ending_model(), never_ending_card("forever-v1"))


async def until(check: Callable[[], list[int]], limit_s: float = 30.0) -> list[int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not (found := check()):
        assert loop.time() < deadline, "never happened"
        await asyncio.sleep(0.02)
    return found


def my_gate_processes() -> list[int]:
    return gate_processes([os.getpid()])


async def test_a_never_ending_model_fails_the_gate_it_runs_at_the_deadline(
    tmp_path: Path,
) -> None:
    record = await gate_in_child(never_ending_job(tmp_path), 4.0)
    assert record["passed"] is False
    (result,) = record["results"]
    assert result["gate"] == "sanity", result
    assert result["detail"] == (
        "gates did not finish within 4 s (ABGATE_GATE_TIMEOUT_S); the gate process was stopped"
    )
    assert result["figures"] == {"timeout_s": 4.0}
    assert my_gate_processes() == []  # killed and reaped


async def test_cancelling_the_run_kills_the_gate_process_at_once(tmp_path: Path) -> None:
    run = asyncio.create_task(gate_in_child(never_ending_job(tmp_path), 300.0))
    (child,) = await until(my_gate_processes)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert child not in my_gate_processes()  # killed before the task ended


@pytest.mark.parametrize(
    ("signum", "reason"),
    [
        (signal.SIGKILL, "killed by SIGKILL (as the out-of-memory killer does)"),
        (signal.SIGSEGV, "killed by SIGSEGV"),
    ],
)
async def test_a_gate_process_that_dies_fails_the_gate_with_how(
    tmp_path: Path, signum: int, reason: str
) -> None:
    run = asyncio.create_task(gate_in_child(never_ending_job(tmp_path), 300.0))
    (child,) = await until(my_gate_processes)
    os.kill(child, signum)
    record = await run
    (result,) = record["results"]
    assert record["passed"] is False and result["passed"] is False
    assert result["detail"] == f"the gate process was {reason} before the gates finished"
    assert str(child) not in result["detail"]


async def test_a_sound_model_passes_in_the_child(tmp_path: Path, models_dir: Path) -> None:
    declared = read_declaration(models_dir / "prod-v1" / "card.json").to_json()
    job = job_for(tmp_path, (models_dir / "prod-v1" / "model.onnx").read_bytes(), declared)
    record = await gate_in_child(job, 120.0)
    assert record["passed"] is True, record
    gates = [r["gate"] for r in record["results"]]
    assert gates == ["integrity", "sanity", "offline_quality", "latency", "consistency"]
    assert record["dataset"]["queries"] > 0


def test_a_gate_process_whose_gateway_is_gone_exits_by_itself(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(never_ending_job(tmp_path).to_json() + b"\n")
            child.stdin.flush()
            while child.stdout.readline() != b'{"gate":"sanity"}\n':  # scoring, without end
                pass
            child.stdin.close()  # as when the gateway dies: the pipe closes
            assert child.wait(timeout=30) == ORPHANED
        finally:
            child.kill()
