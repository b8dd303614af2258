"""Stopping background tasks with a bound: shutdown must never hang on one stuck task.

A cancellation can be lost: redis-py swallows a ``CancelledError`` that lands
while it connects (seen with a pub/sub ``subscribe`` on Python 3.11, about one
cancel in three right after start-up), and the task then waits on in its next
read. So a task that is still running after a short wait is cancelled again,
until it stops or the bound is reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("abgate.tasks")

RECANCEL_EVERY_S = 0.1


async def cancel_and_wait(tasks: Sequence[asyncio.Task[Any]], timeout_s: float = 3.0) -> None:
    """Cancel ``tasks`` (again while any runs) for at most ``timeout_s``; name any that did not stop."""
    pending = {t for t in tasks if not t.done()}
    if not pending:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(
            pending, timeout=min(RECANCEL_EVERY_S, max(0.0, deadline - loop.time()))
        )
    for task in pending:
        log.warning("task %s did not stop within %.1f s", task.get_name(), timeout_s)
