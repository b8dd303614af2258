"""What a backup file holds, as typed records (pure): the header and the control plane's keys.

The header is JSON (readable with ``tar -xOf FILE abgate-backup.json``); the keys are one
msgpack document, whose values stay bytes as Redis holds them (the search-id key is random
bytes). A key is recorded by its name after the control plane's tag (``:config``), so it can be
restored under another prefix.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct

from gateway.errors import ConfigError

FORMAT: Final = "abgate-backup"
FORMAT_VERSION: Final = 1
HEADER: Final = "abgate-backup.json"  # the archive's first member
CONTROL_PLANE: Final = "control-plane.msgpack"

Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
Size = Annotated[int, Meta(ge=0)]
# A key's name after the tag: ':' and up to 1 KiB (abgate's own names are far shorter).
KeyTail = Annotated[str, Meta(pattern="^:", max_length=1024)]
Ttl = Annotated[int, Meta(gt=0)] | None
ArtefactKind = Literal["model", "dataset"]
SUFFIX: Final[dict[str, str]] = {"model": ".onnx", "dataset": ".jsonl"}


class Artefact(Struct, frozen=True, forbid_unknown_fields=True):
    """A content-addressed file of the model store: an ONNX model or a dataset's canonical file."""

    kind: ArtefactKind
    sha256: Sha256
    size: Size

    @property
    def member(self) -> str:
        """Its name in the archive."""
        return f"{self.kind}s/{self.sha256}{SUFFIX[self.kind]}"


class Member(Struct, frozen=True, forbid_unknown_fields=True):
    sha256: Sha256
    size: Size


class Header(Struct, frozen=True, forbid_unknown_fields=True):
    format: Literal["abgate-backup"]
    format_version: int
    abgate_version: str
    created_at: float  # unix time
    prefix: Annotated[str, Meta(pattern="^[A-Za-z0-9_-]+$")]
    shards: Annotated[int, Meta(ge=1)]
    config_version: Annotated[int, Meta(ge=0)]  # every key was read at this version
    audit_entries: Size
    control_plane: Member  # the keys' member: its checksum
    artefacts: tuple[Artefact, ...]


class _Envelope(Struct):
    """The two fields every format version keeps, read before the rest."""

    format: str = ""
    format_version: object = None


class StringKey(Struct, frozen=True, tag="string", forbid_unknown_fields=True):
    key: KeyTail
    value: bytes
    ttl_ms: Ttl = None


class HashKey(Struct, frozen=True, tag="hash", forbid_unknown_fields=True):
    key: KeyTail
    fields: list[tuple[bytes, bytes]]
    ttl_ms: Ttl = None


class ListKey(Struct, frozen=True, tag="list", forbid_unknown_fields=True):
    key: KeyTail
    items: list[bytes]
    ttl_ms: Ttl = None


class SetKey(Struct, frozen=True, tag="set", forbid_unknown_fields=True):
    key: KeyTail
    members: list[bytes]
    ttl_ms: Ttl = None


class SortedSetKey(Struct, frozen=True, tag="zset", forbid_unknown_fields=True):
    key: KeyTail
    members: list[tuple[bytes, float]]
    ttl_ms: Ttl = None


class StreamKey(Struct, frozen=True, tag="stream", forbid_unknown_fields=True):
    key: KeyTail
    entries: list[tuple[str, list[tuple[bytes, bytes]]]]  # (entry id, its fields)
    ttl_ms: Ttl = None


KeyRecord = StringKey | HashKey | ListKey | SetKey | SortedSetKey | StreamKey


class ControlPlane(Struct, frozen=True, forbid_unknown_fields=True):
    keys: list[KeyRecord]


def encode_header(header: Header) -> bytes:
    return msgspec.json.format(msgspec.json.encode(header), indent=2) + b"\n"


def decode_header(raw: bytes, where: str) -> Header:
    """The header of a backup file; ``where`` (the file) names it in every error."""
    try:
        envelope = msgspec.json.decode(raw, type=_Envelope)
    except msgspec.DecodeError as exc:
        raise ConfigError(where, f"not an abgate backup: its header is not JSON ({exc})") from None
    if envelope.format != FORMAT:
        raise ConfigError(
            where, f"not an abgate backup: its header's format is {envelope.format!r}"
        )
    if envelope.format_version != FORMAT_VERSION:
        raise ConfigError(
            where,
            f"backup format version {envelope.format_version!r}; this abgate reads version "
            f"{FORMAT_VERSION} (restore it with the abgate that made it, or a newer one)",
        )
    try:
        return msgspec.json.decode(raw, type=Header)
    except msgspec.ValidationError as exc:
        raise ConfigError(where, f"a damaged header: {exc}") from None


def encode_control_plane(keys: list[KeyRecord]) -> bytes:
    return msgspec.msgpack.encode(ControlPlane(keys))


def decode_control_plane(raw: bytes, where: str) -> list[KeyRecord]:
    try:
        return msgspec.msgpack.decode(raw, type=ControlPlane).keys
    except msgspec.DecodeError as exc:  # ValidationError is one
        raise ConfigError(where, f"{CONTROL_PLANE} is damaged: {exc}") from None
