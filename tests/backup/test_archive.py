"""The backup file's writer: mode 0600, never over an existing file, and a model file that
changes while it is copied in fails the backup, leaving nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from msgspec.structs import replace

from gateway.backup.archive import read_backup, write_backup
from gateway.backup.records import Artefact, encode_control_plane
from gateway.errors import ConfigError
from tests.backup.conftest import Sample, sample_keys


def test_the_file_is_private_and_reads_back_whole(sample: Sample) -> None:
    assert stat.S_IMODE(sample.file.stat().st_mode) == 0o600
    backup = read_backup(sample.file)
    assert backup.header == sample.header and backup.keys == sample.keys
    assert [p.name for p in sample.file.parent.iterdir() if p.name.endswith(".part")] == []


def test_a_model_file_that_changes_under_the_backup_fails_it(sample: Sample) -> None:
    source = sample.file.parent / "model-source.onnx"
    source.write_bytes(sample.model[:-1] + b"!")  # the same size, other bytes
    (artefact,) = sample.header.artefacts
    out = sample.file.with_name("later.backup")
    blob = encode_control_plane(sample_keys(sample.sha256))
    for size in (artefact.size, artefact.size + 5):  # other bytes; fewer than it had
        with pytest.raises(ConfigError, match="changed while it was backed up"):
            write_backup(out, sample.header, blob, {replace(artefact, size=size): source})
        assert sorted(p.name for p in out.parent.iterdir()) == [
            "model-source.onnx",
            "sample.backup",
        ]


def test_an_existing_file_is_never_overwritten(sample: Sample) -> None:
    before = sample.file.read_bytes()
    with pytest.raises(ConfigError, match="exists; a backup never overwrites a file"):
        write_backup(sample.file, sample.header, b"", {})
    assert sample.file.read_bytes() == before


def test_a_directory_that_is_not_there_is_named(sample: Sample, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be written: No such file or directory"):
        write_backup(tmp_path / "nowhere" / "x.backup", sample.header, b"", {})


def test_an_artefact_names_its_member_by_kind_and_hash() -> None:
    assert Artefact("dataset", "a" * 64, 1).member == f"datasets/{'a' * 64}.jsonl"
