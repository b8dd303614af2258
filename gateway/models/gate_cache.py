"""Gate records reused across identical runs: a test or CI setting (``ABGATE_GATE_CACHE_DIR``),
off by default.

A run is identified by everything its record depends on: the candidate's and production's
versions, file digests and declarations, the dataset's content, the gate policy and the
session options. Only a run that finished (the child wrote its record and exited 0) is kept:
a deadline, a crash or a misbehaving child is never replayed. A reused record is the stored
one with ``ran_at`` set to now; its latency figures are those of the run that filled it, which
is why a deployment leaves this off and a test suite that registers the same demo versions
hundreds of times turns it on.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import orjson

from gateway.models.card import ModelCard
from gateway.models.gate_runner import GateJob


def _card(card: ModelCard | None) -> dict[str, Any] | None:
    if card is None:
        return None
    return {"sha256": card.sha256, "declaration": card.declaration.to_json()}


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def job_key(job: GateJob) -> str | None:
    """The run's identity, or None when the dataset cannot be read (the run must say why)."""
    dataset = job.dataset_sha256 or _file_digest(job.dataset_path)
    if dataset is None:
        return None
    identity = {
        "candidate": _card(job.candidate),
        "production": _card(job.production),
        "dataset": dataset,
        "dataset_source": job.dataset_source,
        "policy": job.policy.to_json(),
        "options": vars(job.options),
    }
    return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()


class GateCache:
    """One JSON file per run identity under ``directory`` (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            record = orjson.loads((self.directory / f"{key}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(record, dict):
            return None
        return record | {"ran_at": time.time()}

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Written whole or not at all (a temporary file renamed), so concurrent test processes
        filling the same entry never read half of one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{key}.{os.getpid()}.tmp"
        temporary.write_bytes(orjson.dumps(record))
        temporary.replace(self.directory / f"{key}.json")
