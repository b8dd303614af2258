"""Disk spool for events that could not reach Redis.

Each writer appends JSON lines to its own file and holds an exclusive ``flock``
on it; a closed file (rotated, or left by a dead process) can be locked by any
replayer, which pushes it to Redis and deletes it. Replaying twice is harmless:
the worker de-duplicates by ``event_id``.

A writer creates its file under a name replayers do not list (``.new``), locks it, and
only then renames it into view: the processes of a deployment share the directory, and a
replayer that found a file between its creation and its lock would replay it empty and
delete it, and the writer's acknowledged events would go into a deleted file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from gateway import metrics

Record = tuple[str, bytes]  # (stream key, event json)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = None
        self._seq = 0

    def write(self, records: list[Record]) -> None:
        """Append and fsync: once this returns, the records survive a crash."""
        if self._file is None:
            self._seq += 1
            path = self.directory / f"{os.getpid()}-{self._seq}.jsonl"
            hidden = path.with_name(path.name + ".new")
            self._file = open(hidden, "ab")  # noqa: SIM115 - held open across calls, closed in rotate()
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(hidden, path)  # in view only once locked
        for stream, data in records:
            self._file.write(orjson.dumps({"s": stream, "d": data.decode()}) + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        metrics.SINK_EVENTS.labels("spooled").inc(len(records))

    def rotate(self) -> None:
        """Close the current file so that it can be replayed."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def has_backlog(self) -> bool:
        return self._file is not None or any(self.directory.glob("*.jsonl"))

    def replayable(self) -> Iterator[tuple[Path, list[Record]]]:
        """Closed spool files, each locked while the caller replays it; delete with ``done``."""
        for path in sorted(self.directory.glob("*.jsonl")):
            try:
                handle = open(path, "rb")  # noqa: SIM115 - lock lifetime spans the yield
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer holds it
                if os.fstat(handle.fileno()).st_nlink == 0:
                    continue  # replayed and deleted by someone else meanwhile
                records: list[Record] = []
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # torn final line of a hard-killed writer: never acknowledged
                    item = orjson.loads(line)
                    records.append((item["s"], item["d"].encode()))
                yield path, records
            finally:
                handle.close()

    def done(self, path: Path, count: int) -> None:
        path.unlink(missing_ok=True)
        metrics.SINK_EVENTS.labels("replayed").inc(count)
