"""Stopping background tasks with a bound: shutdown must never hang on one stuck task."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("abgate.tasks")


async def cancel_and_wait(tasks: list[asyncio.Task[None]], timeout_s: float = 3.0) -> None:
    """Cancel ``tasks`` and wait for them at most ``timeout_s``; name any that did not stop."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        log.warning("task %s did not stop within %.1f s", task.get_name(), timeout_s)
