"""The files a backup carries beside the keys: each model card's ONNX file and each dataset's
canonical file, by sha256, where the model store keeps them (:mod:`gateway.models.artifacts`)."""

from __future__ import annotations

from pathlib import Path

import orjson

from gateway.backup.archive import sha256_of
from gateway.backup.records import Artefact, ArtefactKind, HashKey, KeyRecord
from gateway.errors import ConfigError
from gateway.keys import Keys
from gateway.models.artifacts import ArtifactStore


def stores(models_dir: Path) -> dict[ArtefactKind, ArtifactStore]:
    """The model store and the dataset store under ``models_dir`` (ABGATE_MODELS_DIR), as the
    gateway lays them out (gateway.http.app, gateway.models.registrar)."""
    return {
        "model": ArtifactStore(models_dir),
        "dataset": ArtifactStore(models_dir / "datasets", ".jsonl"),
    }


def named_files(records: list[KeyRecord], keys: Keys) -> dict[ArtefactKind, dict[str, str]]:
    """sha256 -> who names it (``model cand-v2``), for the model cards and the datasets."""
    kinds: dict[str, ArtefactKind] = {
        keys.models.removeprefix(keys.base): "model",
        keys.datasets.removeprefix(keys.base): "dataset",
    }
    named: dict[ArtefactKind, dict[str, str]] = {"model": {}, "dataset": {}}
    for record in records:
        kind = kinds.get(record.key)
        if kind is None or not isinstance(record, HashKey):
            continue
        for name, value in record.fields:
            who = f"{kind} {name.decode()!r}"
            sha = orjson.loads(value).get("sha256")
            if not isinstance(sha, str):
                raise ConfigError(keys.base + record.key, f"{who} names no file (no sha256)")
            named[kind].setdefault(sha, who)
    return named


def files_to_back_up(
    records: list[KeyRecord], keys: Keys, models_dir: Path
) -> dict[Artefact, Path]:
    """Every named file, hashed: a missing or changed one fails the backup (it could not be
    restored), naming the version or dataset and the path."""
    found: dict[Artefact, Path] = {}
    for kind, named in named_files(records, keys).items():
        store = stores(models_dir)[kind]
        for sha, who in sorted(named.items()):
            path = store.path(sha)
            if not path.is_file():
                raise ConfigError(
                    "ABGATE_MODELS_DIR",
                    f"the file of {who}, {path}, is missing, so a backup could not bring it back; "
                    "point ABGATE_MODELS_DIR at the gateways' model store",
                )
            actual, size = sha256_of(path)
            if actual != sha:
                raise ConfigError(
                    str(path), f"the file of {who} has sha256 {actual}, its record {sha}"
                )
            found[Artefact(kind, sha, size)] = path
    return found
