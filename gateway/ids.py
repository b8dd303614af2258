"""Unpredictable 128-bit ids (hex) for searches and requests, cheaply.

``uuid.uuid4()`` reads 16 bytes from the kernel per call (a system call each time): 4 % of a
search's CPU in the profile of a loaded gateway, where it is called twice per request (the
request id and the search id). Here one ``os.urandom`` read fills a buffer for 256 ids: the
same randomness (the kernel's CSPRNG), a system call per 256 ids.
"""

from __future__ import annotations

import os
from typing import Final

_ID_BYTES: Final = 16
_BUFFER_IDS: Final = 256


class _IdSource:
    def __init__(self) -> None:
        self._buffer = b""
        self._at = 0
        self._pid = os.getpid()

    def next_hex(self) -> str:
        if self._at >= len(self._buffer) or os.getpid() != self._pid:
            # refill; a forked child never reuses its parent's buffered bytes
            self._buffer, self._at, self._pid = os.urandom(_ID_BYTES * _BUFFER_IDS), 0, os.getpid()
        start = self._at
        self._at += _ID_BYTES
        return self._buffer[start : self._at].hex()


_SOURCE = _IdSource()


def random_id() -> str:
    """32 lowercase hex characters from the kernel's random source, like ``uuid4().hex``."""
    return _SOURCE.next_hex()
