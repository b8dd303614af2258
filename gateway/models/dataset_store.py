"""Evaluation datasets, registered like model versions: the canonical file on disk, addressed by
its sha256 (:mod:`gateway.models.artifacts`), and its metadata in Redis, one entry per id.

An id is chosen by its uploader (the rules of version ids) and is immutable: the same content
again is a no-op, other content under a taken id is refused. Registering writes the metadata
and its audit record in one script. Nothing here deletes a dataset.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.errors import ConfigError, Conflict, NotFound
from gateway.keys import Keys
from gateway.models.artifacts import ArtifactStore
from gateway.models.card import MAX_NOTES, parse_version
from gateway.models.dataset import Dataset, DatasetLimits, load_dataset, sniff_format

# KEYS: datasets hash, audit stream. ARGV: id, metadata JSON, audit record.
_CREATE: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return nil end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry records about a dataset (its content is the file)."""

    id: str
    sha256: str
    format: str  # as uploaded: jsonl or parquet
    queries: int
    candidates: int
    features: tuple[str, ...] | None  # names; None: unnamed arrays of feature_width
    feature_width: int
    size_bytes: int  # of the canonical file
    created_by: str
    created_at: float
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "format": self.format,
            "queries": self.queries,
            "candidates": self.candidates,
            "features": None if self.features is None else list(self.features),
            "feature_width": self.feature_width,
            "size_bytes": self.size_bytes,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetInfo:
        features = data.get("features")
        return cls(
            id=str(data["id"]),
            sha256=str(data["sha256"]),
            format=str(data["format"]),
            queries=int(data["queries"]),
            candidates=int(data["candidates"]),
            features=None if features is None else tuple(features),
            feature_width=int(data["feature_width"]),
            size_bytes=int(data["size_bytes"]),
            created_by=str(data["created_by"]),
            created_at=float(data["created_at"]),
            description=str(data.get("description", "")),
        )


def parse_description(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise ConfigError(where, f"expected a string of at most {MAX_NOTES} characters")
    return value


class DatasetStore:
    def __init__(
        self, redis: Redis, keys: Keys, files: ArtifactStore, limits: DatasetLimits | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.files = files
        self.limits = limits or DatasetLimits()

    async def find(self, dataset_id: str) -> DatasetInfo | None:
        raw = await self.redis.hget(self.keys.datasets, dataset_id)
        return None if raw is None else DatasetInfo.from_json(orjson.loads(raw))

    async def get(self, dataset_id: str) -> DatasetInfo:
        info = await self.find(dataset_id)
        if info is None:
            raise NotFound(f"dataset {dataset_id!r} is not registered (POST /v1/datasets)")
        return info

    async def all(self) -> list[DatasetInfo]:
        raw: Any = await self.redis.hgetall(self.keys.datasets)
        infos = [DatasetInfo.from_json(orjson.loads(v)) for v in raw.values()]
        return sorted(infos, key=lambda d: d.created_at)

    def path(self, info: DatasetInfo) -> Path:
        return self.files.path(info.sha256)

    def _read(self, upload: Path) -> tuple[Dataset, str, bytes]:
        with upload.open("rb") as f:
            fmt = sniff_format(f.read(4))
        dataset = load_dataset(upload, "the uploaded file", self.limits)
        return dataset, fmt, dataset.canonical()

    async def create(
        self, dataset_id: str, upload: Path, description: str, actor: str, reason: str
    ) -> tuple[DatasetInfo, bool]:
        """Register the file at ``upload`` (consumed) as ``dataset_id``: (info, whether new)."""
        parse_version(dataset_id, "id")
        try:
            dataset, fmt, canonical = await asyncio.to_thread(self._read, upload)
        finally:
            self.files.discard(upload)
        existing = await self.find(dataset_id)
        if existing is not None:
            return self._again(existing, dataset.sha256), False
        sha, _ = await asyncio.to_thread(self.files.put_bytes, canonical)
        info = DatasetInfo(
            id=dataset_id,
            sha256=sha,
            format=fmt,
            queries=len(dataset.queries),
            candidates=dataset.candidates,
            features=dataset.feature_names,
            feature_width=dataset.feature_width,
            size_bytes=len(canonical),
            created_by=actor,
            created_at=time.time(),
            description=description,
        )
        summary = {k: v for k, v in info.to_json().items() if k not in ("created_by", "created_at")}
        audit = {
            "actor": actor,
            "reason": reason or "dataset registered",
            "ts": info.created_at,
            "version": None,
            "dataset": dataset_id,
            "diff": [{"path": f"datasets[{dataset_id!r}]", "old": None, "new": summary}],
        }
        created = await self.redis.eval(
            _CREATE,
            2,
            self.keys.datasets,
            self.keys.audit,
            dataset_id,
            orjson.dumps(info.to_json()),
            orjson.dumps(audit),
        )
        if created is None:  # registered meanwhile
            return self._again(await self.get(dataset_id), sha), False
        return info, True

    @staticmethod
    def _again(existing: DatasetInfo, sha: str) -> DatasetInfo:
        if existing.sha256 != sha:
            raise Conflict(
                f"dataset {existing.id!r} is registered with other content (sha256 "
                f"{existing.sha256[:12]}…, this file {sha[:12]}…); a dataset id is immutable: "
                "register this content under a new id"
            )
        return existing
