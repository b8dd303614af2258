"""How far behind its schedule a process's event loop runs, for load shedding.

A timer due every ``interval_s`` notes how late it fired. A loop that has more to do than it
can do in time runs every callback late, the timer's included; requests then wait unseen in
the socket buffers in front of it, which no queue length in the process shows. The search
handler sheds while the lag is past ``ABGATE_MAX_LAG_MS`` (gateway.http.search); the
``abgate_loop_lag_seconds`` gauge shows it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gateway import metrics


class LoopLag:
    """``lag_s``: the least lateness of the last ``window`` ticks, so that one stall (a
    collection, a busy neighbour) does not count as overload, and a loop that stays behind
    does within a few ticks."""

    def __init__(self, interval_s: float = 0.005, window: int = 4) -> None:
        self.interval_s = interval_s
        self.lag_s = 0.0
        self._recent: deque[float] = deque([0.0] * window, maxlen=window)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._schedule(loop, loop.time() + self.interval_s)

    def _schedule(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._handle = loop.call_at(due, self._tick, loop, due)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        self._recent.append(max(0.0, now - due))
        self.lag_s = min(self._recent)
        metrics.LOOP_LAG_SECONDS.set(self.lag_s)
        self._schedule(loop, now + self.interval_s)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
