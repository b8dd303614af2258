"""Read the control plane's backed-up keys (:data:`gateway.keys.BACKED_UP`) at one config version.

Every name is in the control plane's one hash slot, so one MULTI reads them all at one moment
(on a Redis Cluster too). The names built from an argument (``{p}:history:<experiment>``) are
found by SCAN first; the config version and the audit stream are WATCHed meanwhile, and the
names scanned again after, so a change between the scan and the read (a new experiment, any
audited change) makes it read again.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import WatchError

from gateway.backup.records import (
    HashKey,
    KeyRecord,
    ListKey,
    SetKey,
    SortedSetKey,
    StreamKey,
    StringKey,
)
from gateway.errors import Conflict
from gateway.keys import BACKED_UP, Keys, control_plane

ATTEMPTS: Final = 50
SCAN_COUNT: Final = 1000


@dataclass(frozen=True)
class Snapshot:
    keys: list[KeyRecord]
    config_version: int
    audit_entries: int
    unknown: tuple[str, ...]  # control-plane names that gateway.keys does not know (not kept)


def backed_up_names(keys: Keys) -> tuple[list[str], list[str]]:
    """(exact names, glob patterns) of what a backup keeps."""
    names = [n for attr, n in control_plane(keys).items() if attr in BACKED_UP]
    return [n for n in names if "*" not in n], [n for n in names if "*" in n]


async def scan(redis: Redis, pattern: str) -> set[str]:
    return {_text(name) async for name in redis.scan_iter(match=pattern, count=SCAN_COUNT)}


def matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


async def kept_names(redis: Redis, keys: Keys) -> set[str]:
    """The names a backup of ``keys`` keeps that exist now."""
    exact, patterns = backed_up_names(keys)
    found = {name for name in await scan(redis, f"{keys.base}:*") if matches(name, patterns)}
    existing = [n for n, e in zip(exact, await _exist(redis, exact), strict=True) if e]
    return found | set(existing)


async def _exist(redis: Redis, names: list[str]) -> list[bool]:
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.exists(name)
    return [bool(n) for n in await pipe.execute()]


async def read_control_plane(redis: Redis, keys: Keys) -> Snapshot:
    """Every kept key, read in one transaction; ``Conflict`` if it kept changing."""
    for _ in range(ATTEMPTS):
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.version, keys.audit)
            names = sorted(await kept_names(redis, keys))
            kinds = [_text(await pipe.type(name)) for name in names]
            pipe.multi()  # type: ignore[no-untyped-call]
            for name, kind in zip(names, kinds, strict=True):
                _queue_read(pipe, name, kind)
                pipe.pttl(name)
            pipe.get(keys.version)
            pipe.xlen(keys.audit)
            try:
                replies = await pipe.execute()
            except WatchError:
                continue
        if sorted(await kept_names(redis, keys)) != names:
            continue
        records = [
            _record(name.removeprefix(keys.base), kind, value, ttl)
            for name, kind, value, ttl in zip(
                names, kinds, replies[0:-2:2], replies[1:-2:2], strict=True
            )
        ]
        unknown = await _unknown(redis, keys)
        return Snapshot(records, int(replies[-2] or 0), int(replies[-1]), unknown)
    raise Conflict(
        f"the control plane of prefix {keys.prefix!r} kept changing while it was read "
        f"({ATTEMPTS} tries); try again"
    )


def _queue_read(pipe: Any, name: str, kind: str) -> None:
    read = {
        "string": lambda: pipe.get(name),
        "hash": lambda: pipe.hgetall(name),
        "list": lambda: pipe.lrange(name, 0, -1),
        "set": lambda: pipe.smembers(name),
        "zset": lambda: pipe.zrange(name, 0, -1, withscores=True),
        "stream": lambda: pipe.xrange(name),
    }
    if kind not in read:
        raise Conflict(f"{name}: a Redis {kind!r}, which abgate never writes there")
    read[kind]()


def _record(tail: str, kind: str, value: Any, ttl: int) -> KeyRecord:
    ttl_ms = ttl if ttl > 0 else None
    if kind == "string":
        return StringKey(tail, bytes(value), ttl_ms)
    if kind == "hash":
        return HashKey(tail, sorted((bytes(k), bytes(v)) for k, v in value.items()), ttl_ms)
    if kind == "list":
        return ListKey(tail, [bytes(v) for v in value], ttl_ms)
    if kind == "set":
        return SetKey(tail, sorted(bytes(v) for v in value), ttl_ms)
    if kind == "zset":
        return SortedSetKey(tail, [(bytes(m), float(s)) for m, s in value], ttl_ms)
    entries = [(_text(i), [(bytes(k), bytes(v)) for k, v in f.items()]) for i, f in value]
    return StreamKey(tail, entries, ttl_ms)


async def _unknown(redis: Redis, keys: Keys) -> tuple[str, ...]:
    known = list(control_plane(keys).values())
    return tuple(sorted(n for n in await scan(redis, f"{keys.base}:*") if not matches(n, known)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
