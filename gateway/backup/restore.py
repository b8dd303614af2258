"""Restore a verified backup into an empty store: check everything first, then place the
artefacts and write every key in one transaction, with an audit record saying so.

Only into an empty store (for the prefix): a restore never replaces a key that exists, so a
deployment that has been written to since is never overwritten. The control plane is one hash
slot, so the transaction works on a Redis Cluster too. The artefacts are written first
(content-addressed, named by nothing until the keys are); a failed transaction removes the ones
this run created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from gateway.backup.archive import Backup, extract_artefacts, sha256_of
from gateway.backup.artefacts import stores
from gateway.backup.records import (
    Artefact,
    HashKey,
    KeyRecord,
    ListKey,
    SetKey,
    SortedSetKey,
    StreamKey,
    StringKey,
)
from gateway.backup.snapshot import backed_up_names, kept_names, matches
from gateway.control.actors import BACKUP_RESTORE
from gateway.errors import ConfigError, Conflict
from gateway.keys import Keys, control_plane

# What --without-webhooks leaves out: the endpoints (and their secrets), the deliveries not yet
# made, the dispatcher's cursor, the alerts already announced and the delivery logs.
WEBHOOK_KEYS: Final = (
    "webhooks",
    "webhook_cursor",
    "webhook_pending",
    "webhook_alerts",
    "webhook_log",
)


@dataclass(frozen=True)
class Plan:
    """What a restore will write: checked, nothing written yet."""

    backup: Backup
    keys: Keys
    models_dir: Path
    new_files: tuple[Artefact, ...]  # not in the model store yet
    present_files: tuple[Artefact, ...]  # there already, the same bytes
    records: tuple[KeyRecord, ...]  # the keys to write: the backup's, less any left out
    without_webhooks: bool = False


async def plan_restore(
    redis: Redis,
    keys: Keys,
    backup: Backup,
    models_dir: Path,
    other_prefix: bool,
    webhooks: bool | None = None,
) -> Plan:
    """Check the backup against the target (prefix, shards, an empty store, the model store);
    a ``ConfigError`` says what is in the way. Reads only.

    ``webhooks``: keep the backup's webhooks (True), leave them out (False), or unsaid (None),
    which is refused when the backup of another prefix holds any: its endpoints, with their
    secrets and pending deliveries, would deliver to the original deployment's receivers."""
    header, where = backup.header, str(backup.path)
    if header.prefix != keys.prefix and not other_prefix:
        raise ConfigError(
            "ABGATE_PREFIX",
            f"is {keys.prefix!r}, the backup is of prefix {header.prefix!r}: set "
            f"ABGATE_PREFIX={header.prefix}, or pass --other-prefix to restore it under "
            f"{keys.prefix!r}",
        )
    if header.shards != keys.shards:
        raise ConfigError(
            "ABGATE_SHARDS",
            f"is {keys.shards}, the backed-up deployment's data was split into "
            f"{header.shards} shards: set ABGATE_SHARDS={header.shards} (for every process)",
        )
    exact, patterns = backed_up_names(keys)
    for record in backup.keys:
        name = keys.base + record.key
        if name not in exact and not matches(name, patterns):
            raise ConfigError(
                where,
                f"holds the key {name}, which this abgate does not back up (the "
                f"backup was made by abgate {header.abgate_version})",
            )
    hooks = webhook_records(backup.keys, keys)
    if hooks and webhooks is None and other_prefix and header.prefix != keys.prefix:
        raise ConfigError(
            "--other-prefix",
            f"the backup of prefix {header.prefix!r} holds webhooks ({describe(hooks, keys)}): "
            f"restored under {keys.prefix!r} they would deliver to the same receivers, signed "
            "with the same secrets; pass --without-webhooks to leave them out (endpoints, "
            "pending deliveries, cursor, logs), or --with-webhooks to keep them",
        )
    dropped = {r.key for r in hooks} if webhooks is False else set()
    records = tuple(r for r in backup.keys if r.key not in dropped)
    in_the_way = await _in_the_way(redis, keys)
    if in_the_way:
        shown = ", ".join(in_the_way[:8])
        more = f" and {len(in_the_way) - 8} more" if len(in_the_way) > 8 else ""
        raise ConfigError(
            "ABGATE_PREFIX",
            f"the store of prefix {keys.prefix!r} is not empty: it holds {shown}{more}. A "
            "restore never replaces what exists: stop the gateways and workers on it, delete "
            f"the prefix's keys ({keys.base}*) or use a fresh Redis or another ABGATE_PREFIX, "
            "then restore before starting them",
        )
    new, present = [], []
    for artefact in header.artefacts:
        path = stores(models_dir)[artefact.kind].path(artefact.sha256)
        if not path.exists():
            new.append(artefact)
        elif sha256_of(path)[0] == artefact.sha256:
            present.append(artefact)
        else:
            raise ConfigError(
                str(path),
                "is in the model store under that sha256 but holds other bytes; move it away "
                "and restore again",
            )
    return Plan(backup, keys, models_dir, tuple(new), tuple(present), records, webhooks is False)


def webhook_records(records: list[KeyRecord], keys: Keys) -> list[KeyRecord]:
    """The records of :data:`WEBHOOK_KEYS`."""
    names = control_plane(keys)
    patterns = [names[attr] for attr in WEBHOOK_KEYS]
    return [r for r in records if matches(keys.base + r.key, patterns)]


def describe(hooks: list[KeyRecord], keys: Keys) -> str:
    """``2 endpoints, 3 pending deliveries``."""
    sizes = {r.key: _size(r) for r in hooks}
    tail = keys.webhooks.removeprefix(keys.base)
    endpoints = sizes.get(tail, 0)
    pending = sizes.get(keys.webhook_pending.removeprefix(keys.base), 0)
    return f"{endpoints} endpoints, {pending} pending deliveries"


def _size(record: KeyRecord) -> int:
    match record:
        case HashKey(fields=fields):
            return len(fields)
        case ListKey(items=items):
            return len(items)
        case SetKey(members=members) | SortedSetKey(members=members):
            return len(members)
        case StreamKey(entries=entries):
            return len(entries)
    return 1


def restored_subjects(records: tuple[KeyRecord, ...], keys: Keys) -> list[str]:
    """What a restore brings back, as audit subjects (gateway.control.audit): production, each
    experiment, shadow, model, dataset, token and webhook it writes."""
    found: dict[str, None] = {"production": None}
    by_key = {keys.base + r.key: r for r in records}
    config = by_key.get(keys.config)
    if isinstance(config, StringKey):
        try:
            routing = orjson.loads(config.value)
        except orjson.JSONDecodeError:
            routing = {}
        routing = routing if isinstance(routing, dict) else {}
        for kind, field, items in (
            ("experiment", "key", routing.get("experiments")),
            ("shadow", "version", routing.get("shadows")),
        ):
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and isinstance(item.get(field), str):
                    found[f"{kind}:{item[field]}"] = None
    for kind, name in (
        ("model", keys.models),
        ("dataset", keys.datasets),
        ("token", keys.tokens),
        ("webhook", keys.webhooks),
    ):
        record = by_key.get(name)
        if isinstance(record, HashKey):
            for field_name, _ in record.fields:
                found[f"{kind}:{field_name.decode(errors='replace')}"] = None
    return list(found)


async def _in_the_way(redis: Redis, keys: Keys) -> list[str]:
    """The kept names that exist, in full (the shard count alone, when it is the backup's, is
    not in the way: the same layout, recorded by a process that looked)."""
    names = await kept_names(redis, keys)
    if keys.layout in names and int(await redis.get(keys.layout) or 0) == keys.shards:
        names.discard(keys.layout)
    return sorted(names)


def audit_record(plan: Plan) -> bytes:
    header = plan.backup.header
    taken = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(header.created_at))
    return orjson.dumps(
        {
            "actor": BACKUP_RESTORE,
            "reason": f"restored from backup {plan.backup.path.name} (taken {taken} of prefix "
            f"{header.prefix!r}) at config version {header.config_version}",
            "ts": time.time(),
            "version": header.config_version,
            "diff": [],
            "restore": {
                "file": plan.backup.path.name,
                "taken_at": header.created_at,
                "prefix": header.prefix,
                "config_version": header.config_version,
                "abgate_version": header.abgate_version,
                "without_webhooks": plan.without_webhooks,
                "concerns": restored_subjects(plan.records, plan.keys),
            },
        }
    )


async def apply_restore(redis: Redis, plan: Plan) -> None:
    """Place the artefacts, then write every key and the audit record in one transaction."""
    created = _place_files(plan)
    try:
        await _write_keys(redis, plan)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise


def _place_files(plan: Plan) -> list[Path]:
    kinds = stores(plan.models_dir)
    temporary: dict[Artefact, Path] = {}
    created: list[Path] = []
    try:
        for artefact in plan.new_files:
            temporary[artefact] = kinds[artefact.kind].incoming()
        extract_artefacts(plan.backup, temporary)
        for artefact, tmp in temporary.items():
            created.append(kinds[artefact.kind].commit(tmp, artefact.sha256))
    except BaseException as exc:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
        for path in created:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(
                "ABGATE_MODELS_DIR", f"cannot write the model store {plan.models_dir}: {exc}"
            ) from None
        raise
    return created


async def _write_keys(redis: Redis, plan: Plan) -> None:
    keys = plan.keys
    names = [keys.base + r.key for r in plan.records]
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch(*names, keys.layout, keys.audit)
        if in_the_way := await _in_the_way(redis, keys):
            raise Conflict(f"{in_the_way[0]} was written while restoring; nothing was restored")
        pipe.multi()  # type: ignore[no-untyped-call]
        for name, record in zip(names, plan.records, strict=True):
            _queue_write(pipe, name, record)
        pipe.xadd(keys.audit, {"e": audit_record(plan)})
        try:
            await pipe.execute()
        except WatchError:
            raise Conflict(
                f"the store of prefix {keys.prefix!r} was written to while restoring; nothing "
                "was restored"
            ) from None


def _queue_write(pipe: Any, name: str, record: KeyRecord) -> None:
    match record:
        case StringKey(value=value):
            pipe.set(name, value)
        case HashKey(fields=fields) if fields:
            pipe.hset(name, mapping=dict(fields))
        case ListKey(items=items) if items:
            pipe.rpush(name, *items)
        case SetKey(members=members) if members:
            pipe.sadd(name, *members)
        case SortedSetKey(members=scored) if scored:
            pipe.zadd(name, dict(scored))
        case StreamKey(entries=entries):
            for entry_id, fields in entries:
                pipe.xadd(name, dict(fields), id=entry_id)
    if record.ttl_ms is not None:
        pipe.pexpire(name, record.ttl_ms)
