"""``abgate backup FILE`` and ``abgate restore FILE``: the control plane, straight from and into
Redis (REDIS_URL and ABGATE_PREFIX, as ``abgate serve`` reads them), so that a backup works with
every gateway down and a restore happens before any starts. Without REDIS_URL, the embedded
Redis of ``abgate serve`` (its data under ABGATE_VAR_DIR) is used."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import Unavailable

T = TypeVar("T")

SECRETS_NOTE = (
    "it holds secrets (the webhooks' signing secrets, the key search ids are signed with) and "
    "the tokens' hashes: keep it as you keep those (written 0600, not encrypted)"
)


def add_backup_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="save the control plane (config, history, models, datasets, tokens, audit) to FILE",
        description="Save what cannot be rebuilt from the event streams, read at one config "
        "version, to one file: the routing config and its history, the model registry and "
        "its ONNX files, datasets, tokens' hashes, the audit trail, approvals, webhooks, "
        "evaluations. Reads Redis directly (REDIS_URL, ABGATE_PREFIX, ABGATE_MODELS_DIR): the "
        f"gateways may be down. The file is never overwritten; {SECRETS_NOTE}.",
    )
    backup.add_argument("file", help="the file to write (a gzip'd tar; it must not exist)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore",
        help="restore a backup into an empty store (ABGATE_PREFIX on REDIS_URL)",
        description="Restore FILE into an empty store: every key in one transaction, the model "
        "and dataset files into ABGATE_MODELS_DIR, checked against their sha256, and an audit "
        "record saying so. Refused, changing nothing, when the file is not a whole abgate "
        "backup or the store of ABGATE_PREFIX holds a control plane already. Restore before "
        "starting the gateways and workers.",
    )
    restore.add_argument("file", help="a file written by abgate backup")
    restore.add_argument(
        "--other-prefix",
        action="store_true",
        help="restore a backup of another prefix under ABGATE_PREFIX",
    )
    webhooks = restore.add_mutually_exclusive_group()
    webhooks.add_argument(
        "--without-webhooks",
        dest="webhooks",
        action="store_false",
        default=None,
        help="leave the webhooks out (endpoints and their secrets, pending deliveries, cursor, "
        "logs): for a staging copy, which must not deliver to production's receivers",
    )
    webhooks.add_argument(
        "--with-webhooks",
        dest="webhooks",
        action="store_true",
        default=None,
        help="keep the webhooks of a backup of another prefix (--other-prefix asks which)",
    )
    restore.add_argument(
        "--check",
        action="store_true",
        help="verify the file and the target, say what would be restored, write nothing",
    )
    restore.set_defaults(func=cmd_restore)


def _with_redis(work: Callable[[Any], Awaitable[T]]) -> T:
    from redis.exceptions import RedisError

    from gateway.cli import _redis
    from gateway.redis_client import redis_client
    from gateway.settings import Settings

    settings = Settings.from_env()

    async def main(url: str) -> T:
        redis = redis_client(url)
        try:
            return await work(redis)
        except RedisError as exc:
            raise Unavailable(f"Redis (REDIS_URL): {exc}") from None
        finally:
            await redis.aclose()

    with _redis(settings) as url:
        return asyncio.run(main(url))


def cmd_backup(args: argparse.Namespace) -> int:
    from gateway.backup.archive import EXISTS, write_backup
    from gateway.backup.artefacts import files_to_back_up
    from gateway.backup.records import (
        FORMAT,
        FORMAT_VERSION,
        Header,
        Member,
        StringKey,
        encode_control_plane,
    )
    from gateway.backup.snapshot import read_control_plane
    from gateway.cli import _version
    from gateway.errors import ConfigError
    from gateway.layout import mismatch
    from gateway.settings import Settings

    settings = Settings.from_env()
    keys, path = settings.keys, _file(args.file, "write")
    if path.is_dir():
        raise ConfigError(str(path), "is a directory: name a file in it to write")
    if path.exists():
        raise ConfigError(str(path), EXISTS)
    snapshot = _with_redis(lambda redis: read_control_plane(redis, keys))
    recorded = next((r for r in snapshot.keys if keys.base + r.key == keys.layout), None)
    if isinstance(recorded, StringKey) and int(recorded.value) != keys.shards:
        raise mismatch(keys, int(recorded.value))
    if not snapshot.keys:
        raise ConfigError(
            "ABGATE_PREFIX",
            f"the store of prefix {keys.prefix!r} holds no control plane: nothing to back up "
            "(is ABGATE_PREFIX, or REDIS_URL, the deployment's?)",
        )
    files = files_to_back_up(snapshot.keys, keys, settings.models_dir)
    blob = encode_control_plane(snapshot.keys)
    header = Header(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        abgate_version=_version(),
        created_at=time.time(),
        prefix=keys.prefix,
        shards=keys.shards,
        config_version=snapshot.config_version,
        audit_entries=snapshot.audit_entries,
        control_plane=Member(hashlib.sha256(blob).hexdigest(), len(blob)),
        artefacts=tuple(files),
    )
    write_backup(path, header, blob, files)
    models = sum(1 for a in files if a.kind == "model")
    print(
        f"backed up prefix {keys.prefix!r} at config version {snapshot.config_version}: "
        f"{len(snapshot.keys)} keys, {snapshot.audit_entries} audit entries, {models} model "
        f"files, {len(files) - models} dataset files -> {path} ({path.stat().st_size} bytes)"
    )
    print(f"  {SECRETS_NOTE}")
    if snapshot.unknown:
        print(
            f"  left out {len(snapshot.unknown)} keys that abgate does not know: "
            + ", ".join(snapshot.unknown[:8])
        )
    return 0


def _file(name: str, verb: str) -> Path:
    from gateway.errors import ConfigError

    if not name.strip():
        raise ConfigError("FILE", f"is empty: name the backup file to {verb}")
    return Path(name)


def cmd_restore(args: argparse.Namespace) -> int:
    from gateway.backup.archive import read_backup
    from gateway.backup.restore import apply_restore, plan_restore
    from gateway.settings import Settings

    settings = Settings.from_env()
    backup = read_backup(_file(args.file, "restore"))
    header = backup.header

    async def work(redis: Any) -> None:
        plan = await plan_restore(
            redis, settings.keys, backup, settings.models_dir, args.other_prefix, args.webhooks
        )
        taken = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(header.created_at))
        what = (
            f"backup of prefix {header.prefix!r} at config version {header.config_version} "
            f"(taken {taken} by abgate {header.abgate_version}): {len(backup.keys)} keys, "
            f"{header.audit_entries} audit entries, {len(header.artefacts)} files "
            f"({len(plan.new_files)} to place in {settings.models_dir}, "
            f"{len(plan.present_files)} there already)"
        )
        if plan.without_webhooks:
            what += "; without its webhooks"
        if args.check:
            print(f"checked: {what}; the store of prefix {settings.prefix!r} is empty")
            return
        await apply_restore(redis, plan)
        print(f"restored into prefix {settings.prefix!r}: {what}")

    _with_redis(work)
    return 0
