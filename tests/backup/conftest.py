"""A small backup file made by the real writer (no gateway needed), and the environment the
CLI reads, pointed at the session's Redis, a prefix of the test's own and a model store."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis

from gateway.backup.archive import write_backup
from gateway.backup.records import (
    FORMAT,
    FORMAT_VERSION,
    Artefact,
    HashKey,
    Header,
    KeyRecord,
    ListKey,
    Member,
    StreamKey,
    StringKey,
    encode_control_plane,
)
from gateway.keys import Keys
from gateway.redis_server import EmbeddedRedis

MODEL_BYTES = b"not really ONNX: a restore does not load it" * 10


@dataclass(frozen=True)
class Sample:
    file: Path
    header: Header
    keys: list[KeyRecord]
    model: bytes
    sha256: str


def sample_keys(sha256: str) -> list[KeyRecord]:
    card = orjson.dumps({"version": "m-v1", "sha256": sha256, "state": "passed"})
    return [
        StringKey(":layout:shards", b"1"),
        StringKey(":config", b'{"production": "m-v1"}'),
        StringKey(":config:version", b"7"),
        StringKey(":search-id-key", bytes(range(32))),  # not UTF-8: kept as bytes
        HashKey(":models", [(b"m-v1", card)]),
        HashKey(":tokens", [(b"ann", b'{"role": "admin"}')]),
        ListKey(":history:exp-1", [b"first", b"second"]),
        HashKey(":webhooks", [(b"hook-1", b'{"url": "https://example.test/hook"}')]),
        HashKey(":webhooks:pending", [(b"d-1", b'{"endpoint": "hook-1"}')]),
        StringKey(":webhooks:cursor", b"1700000000000-0", ttl_ms=3_600_000),
        StreamKey(
            ":audit",
            [
                ("1700000000000-0", [(b"e", b'{"actor": "ann", "reason": "one"}')]),
                ("1700000000001-5", [(b"e", b'{"actor": "ann", "reason": "two"}')]),
            ],
        ),
    ]


def make_backup(path: Path, prefix: str, **changes: object) -> Sample:
    model = MODEL_BYTES
    sha = hashlib.sha256(model).hexdigest()
    keys = sample_keys(sha)
    blob = encode_control_plane(keys)
    source = path.parent / "model-source.onnx"
    source.write_bytes(model)
    artefact = Artefact("model", sha, len(model))
    fields: dict[str, object] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "abgate_version": "test",
        "created_at": 1_700_000_000.0,
        "prefix": prefix,
        "shards": 1,
        "config_version": 7,
        "audit_entries": 2,
        "control_plane": Member(hashlib.sha256(blob).hexdigest(), len(blob)),
        "artefacts": (artefact,),
    } | changes
    header = Header(**fields)  # type: ignore[arg-type]
    write_backup(path, header, blob, {artefact: source})
    return Sample(path, header, keys, model, sha)


@pytest.fixture
def sample(tmp_path: Path, prefix: str) -> Sample:
    return make_backup(tmp_path / "sample.backup", prefix)


@pytest.fixture
def cli_env(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The CLI's environment; yields the model store (not created)."""
    for name in [n for n in os.environ if n.startswith("ABGATE_") and n != "ABGATE_GATE_CACHE_DIR"]:
        monkeypatch.delenv(name)
    store = tmp_path / "model-store"
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("ABGATE_PREFIX", prefix)
    monkeypatch.setenv("ABGATE_MODELS_DIR", str(store))
    monkeypatch.setenv("ABGATE_VAR_DIR", str(tmp_path / "var"))
    yield store


@pytest.fixture
def sync_redis(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def prefix_keys(client: redis.Redis, prefix: str) -> dict[str, bytes]:
    """Every key of the prefix's control plane, by name, with its DUMP (a change shows)."""
    base = Keys(prefix).base
    names = sorted(n.decode() for n in client.scan_iter(match=f"{base}*", count=1000))
    return {n: client.dump(n) for n in names}  # type: ignore[misc]
