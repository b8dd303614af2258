"""One version's gates in a process of their own: ``python -m gateway.models.gate_runner``.

A model's scoring can be made to never end (a ``Loop`` with a huge trip count) and a thread
cannot be stopped, so the gates do not run in a gateway process: it starts this one
(:mod:`gateway.models.gate_process`), writes one job to its stdin (a JSON line) and reads
JSON lines from its stdout: ``{"gate": name}`` as each gate starts, then ``{"record": …}``.
Past the deadline, or when the gateway stops, the gateway kills it; and when its stdin
closes (the gateway died) it exits by itself, so no runaway outlives its gateway.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.errors import ConfigError
from gateway.inference.registry import OnnxRanker
from gateway.inference.session import SessionOptions
from gateway.logs import configure
from gateway.models.card import ModelCard
from gateway.models.dataset import load_dataset
from gateway.models.gate_policy import GatePolicy
from gateway.models.gates import run_gates

# The exit code when the gateway went away before the gates finished.
ORPHANED = 3


@dataclass(frozen=True)
class GateJob:
    """What the child needs: the cards, where their files are, the dataset, the policy.

    ``dataset_sha256``: a registered dataset's, checked against the file (None: the
    configured evaluation file, read as it is); ``dataset_source`` names it in the record."""

    candidate: ModelCard
    candidate_path: Path
    production: ModelCard | None
    production_path: Path | None
    dataset_path: Path
    policy: GatePolicy
    options: SessionOptions
    dataset_source: str = ""
    dataset_sha256: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "candidate": self.candidate.to_json(),
                "candidate_path": str(self.candidate_path),
                "production": None if self.production is None else self.production.to_json(),
                "production_path": None
                if self.production_path is None
                else str(self.production_path),
                "dataset_path": str(self.dataset_path),
                "dataset_source": self.dataset_source,
                "dataset_sha256": self.dataset_sha256,
                "policy": self.policy.to_json(),
                "options": vars(self.options),
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateJob:
        production = data["production"]
        return cls(
            candidate=ModelCard.from_json(data["candidate"]),
            candidate_path=Path(data["candidate_path"]),
            production=None if production is None else ModelCard.from_json(production),
            production_path=None
            if data["production_path"] is None
            else Path(data["production_path"]),
            dataset_path=Path(data["dataset_path"]),
            policy=GatePolicy.from_json(data["policy"]),
            options=SessionOptions(**data["options"]),
            dataset_source=str(data["dataset_source"]),
            dataset_sha256=data["dataset_sha256"],
        )

    @property
    def against(self) -> str | None:
        return None if self.production is None else self.production.version


def failure(against: str | None, gate: str, detail: str, **figures: Any) -> dict[str, Any]:
    """A gate record of one failed gate (the others did not run)."""
    return {
        "against": against,
        "passed": False,
        "ran_at": time.time(),
        "results": [{"gate": gate, "passed": False, "detail": detail, "figures": figures}],
    }


def run_job(job: GateJob, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every gate's result for the job's candidate; ``progress`` hears each gate start."""
    progress("integrity")
    try:
        candidate = OnnxRanker(
            job.candidate.declaration, job.candidate_path, job.options, job.candidate.sha256
        )
    except ConfigError as exc:
        return failure(job.against, "integrity", str(exc))
    progress("sanity")
    source = job.dataset_source or job.dataset_path.name
    try:
        dataset = load_dataset(job.dataset_path, source)
    except ConfigError as exc:  # recorded as a failure, never a card left "gating"
        return failure(job.against, "sanity", f"the dataset cannot be read: {exc}")
    if job.dataset_sha256 is not None and dataset.sha256 != job.dataset_sha256:
        return failure(
            job.against,
            "sanity",
            f"the stored file of dataset {source} does not match its sha256 "
            f"({job.dataset_sha256[:12]}…, the file {dataset.sha256[:12]}…)",
        )
    production = None
    if job.production is not None and job.production_path is not None:
        try:
            production = OnnxRanker(
                job.production.declaration,
                job.production_path,
                job.options,
                job.production.sha256,
            )
        except ConfigError as exc:
            return failure(
                job.against, "offline_quality", f"production {job.against} cannot be loaded: {exc}"
            )
    return run_gates(candidate, production, dataset, job.policy, progress=progress)


def _exit_when_orphaned(fd: int) -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read holds its lock, and
    # the interpreter cannot shut down past it.
    while os.read(fd, 4096):
        pass
    os._exit(ORPHANED)  # EOF: the gateway closed the pipe, or died


def _read_line(fd: int) -> bytes:
    """One line from ``fd``, read a byte at a time so that nothing past it is consumed."""
    line = bytearray()
    while (byte := os.read(fd, 1)) and byte != b"\n":
        line += byte
    return bytes(line)


def main() -> int:
    # The protocol gets a descriptor of its own; whatever native code prints goes to stderr.
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    # The gateway's log format; what it said once already (inference on CPU) is not repeated.
    configure(logging.ERROR)
    job = GateJob.from_json(orjson.loads(_read_line(0)))
    threading.Thread(
        target=_exit_when_orphaned, args=(0,), name="orphan-watch", daemon=True
    ).start()

    def say(message: Mapping[str, Any]) -> None:
        protocol.write(orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")

    say({"record": run_job(job, lambda gate: say({"gate": gate}))})
    return 0


if __name__ == "__main__":
    sys.exit(main())
