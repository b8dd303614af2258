"""The backup file on disk: a gzip'd tar of the header (first), the control plane's keys and the
artefacts, each checked against the header's sha256 and size when read.

A backup is written to ``FILE.part`` (mode 0600: it holds secrets) and renamed into place once
complete, so a failed backup leaves no file that looks whole; an existing file is never
overwritten. Reading verifies every member before anything is restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from gateway.backup.records import (
    CONTROL_PLANE,
    HEADER,
    Artefact,
    Header,
    KeyRecord,
    decode_control_plane,
    decode_header,
    encode_header,
)
from gateway.errors import ConfigError

CHUNK: Final = 1 << 20
# What a damaged or cut-off gzip'd tar raises while it is read.
_DAMAGED: Final = (tarfile.TarError, EOFError, zlib.error, OSError)


@dataclass(frozen=True)
class Backup:
    """A verified backup file: its header and its keys (artefacts stay in the file)."""

    path: Path
    header: Header
    keys: list[KeyRecord]


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_backup(
    path: Path, header: Header, keys_blob: bytes, artefacts: dict[Artefact, Path]
) -> None:
    """Write the backup file; each artefact's file is hashed again as it is copied in, so a
    file changed under the backup fails it instead of being saved under a wrong name."""
    if path.exists():
        raise ConfigError(str(path), "exists; a backup never overwrites a file: name another")
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add(tar, HEADER, io.BytesIO(encode_header(header)), None)
            _add(tar, CONTROL_PLANE, io.BytesIO(keys_blob), None)
            for artefact, source in artefacts.items():
                with source.open("rb") as f:
                    _add(tar, artefact.member, f, artefact)
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], artefact: Artefact | None) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    if artefact is None:
        info.size = len(data.getbuffer()) if isinstance(data, io.BytesIO) else 0
        tar.addfile(info, data)
        return
    info.size = artefact.size
    checked = _Checked(data, artefact)
    tar.addfile(info, checked)
    checked.done()


class _Checked:
    """A reader that hashes what it passes on, for :func:`_add`."""

    def __init__(self, inner: IO[bytes], artefact: Artefact) -> None:
        self.inner, self.artefact = inner, artefact
        self.digest, self.size = hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.inner.read(n)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def done(self) -> None:
        if self.inner.read(1) or (self.digest.hexdigest(), self.size) != (
            self.artefact.sha256,
            self.artefact.size,
        ):
            raise ConfigError(
                f"{self.artefact.kind} file {self.artefact.sha256}",
                "changed while it was being backed up (its sha256 or size differs); back up again",
            )


def read_backup(path: Path) -> Backup:
    """Read and verify the whole file: the header first, then every member against it (names,
    sizes, sha256). Anything wrong is a ``ConfigError`` naming the file and the member."""
    where = str(path)
    if not path.is_file():
        raise ConfigError(where, "no such file")
    header: Header | None = None
    keys: list[KeyRecord] | None = None
    seen: set[str] = set()
    expected: dict[str, Artefact] = {}
    try:
        with _open(path) as tar:
            for member in tar:
                if header is None:
                    if member.name != HEADER:
                        raise ConfigError(
                            where, f"not an abgate backup: its first member is not {HEADER}"
                        )
                    header = decode_header(_read_all(tar, member), where)
                    expected = {a.member: a for a in header.artefacts}
                    continue
                if member.name in seen or member.name == HEADER:
                    raise ConfigError(where, f"{member.name} is in it twice")
                seen.add(member.name)
                if member.name == CONTROL_PLANE:
                    blob = _read_all(tar, member)
                    _check(where, member.name, blob, header.control_plane.sha256)
                    keys = decode_control_plane(blob, where)
                elif member.name in expected:
                    _check_artefact(where, tar, member, expected[member.name])
                else:
                    raise ConfigError(where, f"{member.name}: not named by its header")
    except _DAMAGED as exc:
        raise ConfigError(where, f"truncated or damaged ({exc})") from None
    if header is None:
        raise ConfigError(where, "not an abgate backup: an empty archive")
    missing = sorted(set(expected) - seen) + ([CONTROL_PLANE] if keys is None else [])
    if missing or keys is None:
        raise ConfigError(where, f"truncated or incomplete: {', '.join(missing)} missing")
    return Backup(path, header, keys)


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 (closed by the with below)
    except tarfile.ReadError:
        raise ConfigError(str(path), "not an abgate backup (not a gzip'd tar file)") from None
    with tar:
        yield tar


def _read_all(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise ConfigError(str(tar.name or "backup"), f"{member.name}: not a file")
    return f.read()


def _check(where: str, name: str, blob: bytes, sha256: str) -> None:
    actual = hashlib.sha256(blob).hexdigest()
    if actual != sha256:
        raise ConfigError(where, f"{name}: checksum mismatch (sha256 {actual}, header {sha256})")


def _check_artefact(
    where: str, tar: tarfile.TarFile, member: tarfile.TarInfo, artefact: Artefact
) -> None:
    digest, size = hashlib.sha256(), 0
    for chunk in artefact_chunks(tar, member):
        digest.update(chunk)
        size += len(chunk)
    if size != artefact.size:
        raise ConfigError(where, f"{member.name}: {size} bytes, the header says {artefact.size}")
    if digest.hexdigest() != artefact.sha256:
        raise ConfigError(where, f"{member.name}: checksum mismatch (sha256 {digest.hexdigest()})")


def artefact_chunks(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    f = tar.extractfile(member)
    if f is None:
        raise ConfigError(str(tar.name or "backup"), f"{member.name}: not a file")
    while chunk := f.read(CHUNK):
        yield chunk


def extract_artefacts(backup: Backup, into: dict[str, Path]) -> None:
    """Copy each artefact (by archive member name) to its path in ``into``, checked again."""
    with _open(backup.path) as tar:
        for member in tar:
            target = into.get(member.name)
            if target is None:
                continue
            digest = hashlib.sha256()
            with target.open("wb") as out:
                for chunk in artefact_chunks(tar, member):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() not in member.name:
                raise ConfigError(str(backup.path), f"{member.name} changed while restoring")
