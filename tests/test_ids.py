"""Search and request ids: 32 hex characters, never repeated, not shared with a forked child."""

from __future__ import annotations

import os
import re

from gateway.ids import random_id


def test_ids_are_hex_and_unique_across_buffer_refills() -> None:
    ids = [random_id() for _ in range(5000)]  # about 20 refills of the buffer
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_child_does_not_reuse_the_parents_buffer() -> None:
    random_id()  # the parent's buffer now holds unread ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the ids it would give, and leave at once
        os.close(read)
        os.write(write, " ".join(random_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 4096).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    parent = [random_id() for _ in range(3)]
    assert len(child) == 3 and not set(child) & set(parent)
