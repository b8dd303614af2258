"""Versioned unit hashing, compatible with GrowthBook's JavaScript SDK.

A hash version, once shipped, never changes: new behaviour gets a new version.
Both versions use 32-bit FNV-1a (offset basis 0x811c9dc5, prime 16777619) over
the string's UTF-16 code units, as the JS SDK does with ``charCodeAt``.
"""

from __future__ import annotations

from typing import Final, Literal

HashVersion = Literal[1, 2]
SUPPORTED_HASH_VERSIONS: Final[tuple[int, ...]] = (1, 2)

_FNV_OFFSET: Final = 0x811C9DC5
_FNV_PRIME: Final = 16777619
_MASK32: Final = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over the UTF-16 code units of ``text`` (JS ``charCodeAt``)."""
    h = _FNV_OFFSET
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * _FNV_PRIME) & _MASK32
    return h


def unit_hash(seed: str, value: str, version: int) -> float | None:
    """Map ``value`` to [0, 1) under ``seed``; ``None`` for an unknown version.

    v1 (legacy): ``(fnv(value + seed) % 1000) / 1000``.
    v2: ``(fnv(str(fnv(seed + value))) % 10000) / 10000``.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None
