"""The disk spool shared by a deployment's gateway processes (one directory): a file another
process is about to write is never replayed and deleted under it."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import pytest

from gateway.events import spool as spool_module
from gateway.events.spool import Spool


def test_a_new_spool_file_is_never_replayed_before_its_writer_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes spool to one directory while Redis comes back. The replayer of the one
    lists the directory just as the other has created its next file and not yet locked it:
    on main it locked the empty file itself, replayed nothing, deleted it, and the writer then
    wrote acknowledged events into the deleted file (lost). Seen once as one lost event in the
    fault suite's Redis SIGKILL run."""
    writer, replayer = Spool(tmp_path), Spool(tmp_path)
    replayed: list[tuple[str, bytes]] = []
    real_flock = fcntl.flock
    raced: list[bool] = []

    def flock_after_the_other_replays(handle: Any, operation: int) -> None:
        if not raced and operation == fcntl.LOCK_EX | fcntl.LOCK_NB:
            raced.append(True)  # the other process's replay, in the writer's window
            for path, records in replayer.replayable():
                replayed.extend(records)
                replayer.done(path, len(records))
        real_flock(handle, operation)

    monkeypatch.setattr(spool_module.fcntl, "flock", flock_after_the_other_replays)
    writer.write([("stream", b'{"event_id": "e1"}')])
    monkeypatch.setattr(spool_module.fcntl, "flock", real_flock)
    assert raced
    writer.rotate()
    for path, records in replayer.replayable():
        replayed.extend(records)
        replayer.done(path, len(records))
    assert replayed == [("stream", b'{"event_id": "e1"}')]
    assert list(tmp_path.iterdir()) == []
