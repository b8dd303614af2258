"""``abgate restore`` (and ``backup``) through the CLI against the session's real Redis, on
small backups made by the real writer: a faithful round trip, and every refusal — not a
backup, truncated, another format version, a checksum that does not match, a store that is
not empty, another prefix or shard count — a one-line error that changes nothing."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis
from msgspec.structs import replace

from gateway.backup.archive import read_backup
from gateway.backup.records import CONTROL_PLANE, HEADER, KeyRecord
from gateway.backup.restore import apply_restore, plan_restore
from gateway.backup.snapshot import read_control_plane
from gateway.cli import main as cli
from gateway.control.audit import AuditFilter, subjects
from gateway.errors import ConfigError
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_cluster import LocalCluster
from tests.backup.conftest import Sample, make_backup, prefix_keys

Members = list[tuple[str, bytes]]


def members_of(file: Path) -> Members:
    with tarfile.open(file, "r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def rewritten(sample: Sample, change: Callable[[Members], Members]) -> Path:
    out = sample.file.with_name("changed.backup")
    with tarfile.open(out, "w:gz") as tar:
        for name, data in change(members_of(sample.file)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def restore(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli(["restore", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_restore_writes_every_key_as_it_was_and_audits_itself(
    sample: Sample,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = restore(capsys, str(sample.file))
    assert code == 0, err
    assert out.startswith(f"restored into prefix {prefix!r}: backup of prefix {prefix!r} at config")
    keys = Keys(prefix)
    assert sync_redis.get(keys.config) == b'{"production": "m-v1"}'
    assert sync_redis.get(keys.search_id_key) == bytes(range(32))
    assert sync_redis.lrange(keys.evaluation_history("exp-1"), 0, -1) == [b"first", b"second"]
    assert 0 < sync_redis.pttl(keys.webhook_cursor) <= 3_600_000
    entries = sync_redis.xrange(keys.audit)
    assert [e[0] for e in entries[:2]] == [b"1700000000000-0", b"1700000000001-5"]  # ids kept
    record = orjson.loads(entries[2][1][b"e"])
    assert record["actor"] == "backup-restore" and record["version"] == 7
    # Found by what it brought back: abgate audit --subject production (or model:m-v1, ...).
    found = subjects(record)
    assert found == ["production", "model:m-v1", "token:ann", "webhook:hook-1"]
    assert AuditFilter(subject="production").matches(record, found)
    assert record["reason"] == (
        f"restored from backup sample.backup (taken 2023-11-14T22:13:20Z of prefix {prefix!r}) "
        "at config version 7"
    )
    assert (cli_env / "sha256" / f"{sample.sha256}.onnx").read_bytes() == sample.model
    # Backed up again, it is the same control plane (plus the restore's record).
    again = sample.file.with_name("again.backup")
    assert cli(["backup", str(again)]) == 0
    out = capsys.readouterr().out
    assert f"at config version 7: {len(sample.keys)} keys, 3 audit entries, 1 model files" in out


def _set(path: str, value: object) -> Callable[[Members], Members]:
    def change(members: Members) -> Members:
        header = orjson.loads(members[0][1])
        header[path] = value
        return [(HEADER, orjson.dumps(header)), *members[1:]]

    return change


def _flip(name: str) -> Callable[[Members], Members]:
    def change(members: Members) -> Members:
        return [(n, d[:-1] + bytes([d[-1] ^ 1]) if n == name else d) for n, d in members]

    return change


CORRUPTIONS: dict[str, tuple[Callable[[Sample], Path], str]] = {
    "not a tar": (
        lambda s: _write(s, b"PK\x03\x04 a zip file"),
        "not an abgate backup (not a gzip'd tar file)",
    ),
    "truncated": (
        lambda s: _write(s, s.file.read_bytes()[: s.file.stat().st_size // 2]),
        "truncated or damaged",
    ),
    "its gzip trailer cut off": (
        lambda s: _write(s, s.file.read_bytes()[:-20]),
        "truncated or damaged",
    ),
    "the gzip trailer's checksum wrong": (
        lambda s: _write(s, _flipped_crc(s.file.read_bytes())),
        "truncated or damaged",
    ),
    "no header first": (
        lambda s: rewritten(s, lambda m: m[1:] + m[:1]),
        f"its first member is not {HEADER}",
    ),
    "another format": (lambda s: rewritten(s, _set("format", "tarball")), "not an abgate backup"),
    "a newer format version": (
        lambda s: rewritten(s, _set("format_version", 2)),
        "backup format version 2; this abgate reads version 1",
    ),
    "a damaged header": (
        lambda s: rewritten(s, _set("shards", "many")),
        "a damaged header: Expected `int`, got `str` - at `$.shards`",
    ),
    "the keys changed": (
        lambda s: rewritten(s, _flip(CONTROL_PLANE)),
        f"{CONTROL_PLANE}: checksum mismatch",
    ),
    "an artefact changed": (
        lambda s: rewritten(s, _flip(f"models/{s.sha256}.onnx")),
        f"models/{'{sha}'}.onnx: checksum mismatch",
    ),
    "an artefact missing": (
        lambda s: rewritten(s, lambda m: m[:2]),
        "truncated or incomplete: models/",
    ),
    "a member it does not name": (
        lambda s: rewritten(s, lambda m: [*m, ("notes.txt", b"hello")]),
        "notes.txt: not named by its header",
    ),
}


def _flipped_crc(data: bytes) -> bytes:
    """The gzip trailer is the CRC-32 (4 bytes) and the length (4 bytes)."""
    return data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]


def _write(sample: Sample, data: bytes) -> Path:
    out = sample.file.with_name("changed.backup")
    out.write_bytes(data)
    return out


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_file_that_is_not_a_whole_backup_is_refused_and_nothing_changes(
    corruption: str,
    sample: Sample,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, message = CORRUPTIONS[corruption]
    bad = make(sample)
    code, out, err = restore(capsys, str(bad))
    assert code == 2 and out == "", err
    assert err.startswith(f"abgate: {bad}: ") and err.count("\n") == 1, err
    assert message.replace("{sha}", sample.sha256) in err, err
    assert prefix_keys(sync_redis, prefix) == {} and not cli_env.exists()


def test_a_store_that_is_not_empty_is_refused_naming_what_it_holds(
    sample: Sample,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = Keys(prefix)
    sync_redis.set(keys.layout, 1)  # the same shard count is not in the way
    sync_redis.hset(keys.tokens, "bea", "{}")
    sync_redis.rpush(keys.evaluation_history("exp-9"), "a look")
    sync_redis.hset(keys.gateways, "gateway-1", "{}")  # a heartbeat: not what a backup keeps
    held = prefix_keys(sync_redis, prefix)
    code, _out, err = restore(capsys, str(sample.file))
    assert code == 2
    assert err == (
        f"abgate: ABGATE_PREFIX: the store of prefix {prefix!r} is not empty: it holds "
        f"{{{prefix}}}:history:exp-9, {{{prefix}}}:tokens. A restore never replaces what "
        "exists: stop the gateways and workers on it, delete the prefix's keys "
        f"({{{prefix}}}*) or use a fresh Redis or another ABGATE_PREFIX, then restore before "
        "starting them\n"
    )
    assert prefix_keys(sync_redis, prefix) == held and not cli_env.exists()
    # --check says the same, and writes nothing either.
    assert restore(capsys, "--check", str(sample.file))[0] == 2


def test_another_prefix_or_shard_count_is_refused_unless_asked_for(
    tmp_path: Path,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = make_backup(tmp_path / "other.backup", "shop-eu")
    code, _, err = restore(capsys, str(other.file))
    assert code == 2
    assert err.startswith(
        f"abgate: ABGATE_PREFIX: is {prefix!r}, the backup is of prefix 'shop-eu': set "
        "ABGATE_PREFIX=shop-eu, or pass --other-prefix"
    )
    monkeypatch.setenv("ABGATE_SHARDS", "4")
    code, _, err = restore(capsys, "--other-prefix", "--with-webhooks", str(other.file))
    assert code == 2 and "ABGATE_SHARDS: is 4, the backed-up deployment's data was split" in err
    assert prefix_keys(sync_redis, prefix) == {}
    monkeypatch.delenv("ABGATE_SHARDS")
    code, _out, err = restore(capsys, "--other-prefix", "--with-webhooks", str(other.file))
    assert code == 0, err
    keys = Keys(prefix)
    assert sync_redis.get(keys.config) == b'{"production": "m-v1"}'
    assert sync_redis.hkeys(keys.webhooks) == [b"hook-1"]
    assert prefix_keys(sync_redis, "shop-eu") == {}


def test_a_copy_under_another_prefix_asks_about_the_webhooks_and_can_leave_them_out(
    tmp_path: Path,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A staging copy of production must not deliver production's webhooks (nor retry its
    pending deliveries) to production's receivers."""
    other = make_backup(tmp_path / "other.backup", "shop-eu")
    for check in (["--check"], []):
        code, out, err = restore(capsys, *check, "--other-prefix", str(other.file))
        assert code == 2 and out == ""
        assert err == (
            "abgate: --other-prefix: the backup of prefix 'shop-eu' holds webhooks (1 endpoints, "
            f"1 pending deliveries): restored under {prefix!r} they would deliver to the same "
            "receivers, signed with the same secrets; pass --without-webhooks to leave them out "
            "(endpoints, pending deliveries, cursor, logs), or --with-webhooks to keep them\n"
        )
        assert prefix_keys(sync_redis, prefix) == {} and not cli_env.exists()
    code, out, err = restore(capsys, "--other-prefix", "--without-webhooks", str(other.file))
    assert code == 0, err
    assert out.rstrip().endswith("; without its webhooks")
    keys = Keys(prefix)
    assert sync_redis.get(keys.config) == b'{"production": "m-v1"}'
    for name in (keys.webhooks, keys.webhook_pending, keys.webhook_cursor):
        assert not sync_redis.exists(name), name
    record = orjson.loads(sync_redis.xrange(keys.audit)[-1][1][b"e"])
    assert record["restore"]["without_webhooks"] is True
    assert "webhook:hook-1" not in subjects(record)
    # Both at once is a usage error.
    with pytest.raises(SystemExit):
        cli(["restore", "--with-webhooks", "--without-webhooks", str(other.file)])
    capsys.readouterr()


def test_a_backup_checks_the_recorded_shard_count_as_every_process_does(
    sample: Sample,
    cli_env: Path,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert restore(capsys, str(sample.file))[0] == 0  # records 1 shard
    monkeypatch.setenv("ABGATE_SHARDS", "2")
    file = sample.file.with_name("two.backup")
    assert cli(["backup", str(file)]) == 2
    assert capsys.readouterr().err == (
        f"abgate: ABGATE_SHARDS: this deployment's data (prefix {prefix!r}) is split into 1 "
        "shards, got 2; start every process with ABGATE_SHARDS=1\n"
    )
    assert not file.exists()


def test_a_directory_or_an_empty_name_is_refused_as_such(
    sample: Sample, cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = restore(capsys, str(tmp_path))
    assert (code, err) == (2, f"abgate: {tmp_path}: is a directory: name the backup file in it\n")
    assert cli(["backup", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"abgate: {tmp_path}: is a directory: name a file in it to write\n"
    )
    assert cli(["backup", ""]) == 2
    assert capsys.readouterr().err == "abgate: FILE: is empty: name the backup file to write\n"
    code, _, err = restore(capsys, " ")
    assert (code, err) == (2, "abgate: FILE: is empty: name the backup file to restore\n")


def test_a_model_store_holding_other_bytes_under_the_hash_is_refused(
    sample: Sample,
    cli_env: Path,
    prefix: str,
    sync_redis: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    squatter = cli_env / "sha256" / f"{sample.sha256}.onnx"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"other bytes")
    code, _, err = restore(capsys, str(sample.file))
    assert code == 2 and err.startswith(f"abgate: {squatter}: is in the model store under that")
    assert prefix_keys(sync_redis, prefix) == {} and squatter.read_bytes() == b"other bytes"
    # The same bytes there already: used as they are.
    squatter.write_bytes(sample.model)
    code, out, err = restore(capsys, str(sample.file))
    assert code == 0 and "(0 to place in" in out and "1 there already)" in out, err


def test_a_backup_of_nothing_or_of_a_missing_model_file_is_refused(
    sample: Sample,
    cli_env: Path,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = sample.file.with_name("new.backup")
    assert cli(["backup", str(file)]) == 2
    assert f"the store of prefix {prefix!r} holds no control plane" in capsys.readouterr().err
    assert restore(capsys, str(sample.file))[0] == 0
    (cli_env / "sha256" / f"{sample.sha256}.onnx").unlink()
    assert cli(["backup", str(file)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("abgate: ABGATE_MODELS_DIR: the file of model 'm-v1', ") and "missing" in err
    )
    assert not file.exists() and not [p for p in file.parent.iterdir() if ".part" in p.name]


async def test_on_a_redis_cluster_the_restore_and_the_read_are_one_transaction_each(
    sample: Sample, redis_cluster: LocalCluster, prefix: str, tmp_path: Path
) -> None:
    """The control plane is one hash slot: WATCH, MULTI and EXEC on its node."""
    keys = Keys(prefix)
    client = redis_client(redis_cluster.url)
    try:
        backup = read_backup(sample.file)
        plan = await plan_restore(client, keys, backup, tmp_path / "store", other_prefix=False)
        await apply_restore(client, plan)
        found = await read_control_plane(client, keys)
        with pytest.raises(ConfigError, match=f"is not empty: it holds {{{prefix}}}:audit, "):
            await plan_restore(client, keys, backup, tmp_path / "store", other_prefix=False)
    finally:
        await client.aclose()
    assert (found.config_version, found.audit_entries) == (7, 3)

    # As they were, but for the time to live, which runs on.
    def timeless(records: list[KeyRecord]) -> list[KeyRecord]:
        return sorted((replace(r, ttl_ms=None) for r in records if r.key != ":audit"), key=str)

    assert timeless(found.keys) == timeless(sample.keys)
