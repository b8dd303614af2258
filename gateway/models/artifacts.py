"""The model store on disk: ONNX files addressed by their sha256, so a version's bytes can
never change under its id and a retired version stays where it can come back from. Evaluation
datasets are kept the same way, in a store of their own (``suffix=".jsonl"``).

Layout: ``<root>/sha256/<hex><suffix>``; uploads arrive in ``<root>/incoming/`` and are
renamed into place (atomic on one file system) once their digest is known.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path


class ArtifactStore:
    def __init__(self, root: Path, suffix: str = ".onnx") -> None:
        self.root = root
        self.suffix = suffix

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / f"{sha256}{self.suffix}"

    def incoming(self) -> Path:
        """A fresh temporary path for an upload in progress."""
        directory = self.root / "incoming"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{uuid.uuid4().hex}.part"

    def commit(self, tmp: Path, sha256: str) -> Path:
        """Move a verified upload into place; the same bytes stored twice are kept once."""
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink(missing_ok=True)
        else:
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        return final

    def put_bytes(self, data: bytes) -> tuple[str, Path]:
        sha = hashlib.sha256(data).hexdigest()
        tmp = self.incoming()
        tmp.write_bytes(data)
        return sha, self.commit(tmp, sha)

    def discard(self, tmp: Path) -> None:
        with contextlib.suppress(OSError):
            tmp.unlink()
