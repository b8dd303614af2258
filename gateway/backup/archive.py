"""The backup file on disk: a gzip'd tar of the header (first), the control plane's keys and the
artefacts, each checked against the header's sha256 and size when read.

A backup is written to a temporary file beside FILE (mode 0600: it holds secrets) and linked
into place once complete, so a failed backup leaves no file that looks whole, and an existing
file is never overwritten. Reading verifies every member before anything is restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import tempfile
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
        raise ConfigError(str(path), EXISTS)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be written: {exc.strerror}") from None
    part = Path(name)  # mkstemp's mode: 0600
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, HEADER, encode_header(header))
                _add_bytes(tar, CONTROL_PLANE, keys_blob)
                for artefact, source in artefacts.items():
                    _add_file(tar, artefact, source)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(part, path)  # unlike a rename, never replaces a file made meanwhile
    except FileExistsError:
        raise ConfigError(str(path), EXISTS) from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be written: {exc}") from None
    finally:
        part.unlink(missing_ok=True)


EXISTS: Final = "exists; a backup never overwrites a file: name another"


def _add_bytes(tar: tarfile.TarFile, name: str, blob: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.size = 0o600, len(blob)
    tar.addfile(info, io.BytesIO(blob))


def _add_file(tar: tarfile.TarFile, artefact: Artefact, source: Path) -> None:
    info = tarfile.TarInfo(artefact.member)
    info.mode, info.size = 0o600, artefact.size
    with source.open("rb") as f:
        checked = _Hashing(f)
        try:
            tar.addfile(info, checked)
            longer = bool(f.read(1))
        except OSError:  # shorter than it was: tarfile's "unexpected end of data"
            longer = True
    if longer or checked.digest.hexdigest() != artefact.sha256:
        raise ConfigError(
            str(source),
            f"the {artefact.kind} file changed while it was backed up (its sha256 or size "
            "differs from a moment before); back up again",
        )


class _Hashing:
    """A reader that hashes what it passes on."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.digest = inner, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self.inner.read(n)
        self.digest.update(chunk)
        return chunk


def read_backup(path: Path) -> Backup:
    """Read and verify the whole file: the header first, then every member against it (names,
    sizes, sha256). Anything wrong is a ``ConfigError`` naming the file and the member."""
    where = str(path)
    if path.is_dir():
        raise ConfigError(where, "is a directory: name the backup file in it")
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
            _read_to_end(tar)
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


def _read_to_end(tar: tarfile.TarFile) -> None:
    """Read the compressed stream past the tar's end to its own: gzip checks its trailer (the
    CRC and length of everything) only there, so a file cut off in it is found."""
    stream = tar.fileobj
    if stream is not None:
        while stream.read(CHUNK):
            pass


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


def extract_artefacts(backup: Backup, into: dict[Artefact, Path]) -> None:
    """Copy each artefact to its path in ``into``, checked against its sha256 again."""
    by_member = {a.member: (a, path) for a, path in into.items()}
    with _open(backup.path) as tar:
        for member in tar:
            if member.name not in by_member:
                continue
            artefact, target = by_member[member.name]
            digest = hashlib.sha256()
            with target.open("wb") as out:
                for chunk in artefact_chunks(tar, member):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != artefact.sha256:
                raise ConfigError(str(backup.path), f"{member.name} changed while restoring")
