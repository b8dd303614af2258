"""LoopLag: how far behind the event loop runs, on a real loop; one stall is not overload."""

from __future__ import annotations

import asyncio
import time

from gateway.http.loop_lag import LoopLag


async def _stall(seconds: float) -> None:
    time.sleep(seconds)  # noqa: ASYNC251 - the point: the loop's thread busy, timers fire late
    await asyncio.sleep(0)


async def test_a_loop_that_stays_behind_shows_its_lag_and_one_stall_does_not() -> None:
    lag = LoopLag(interval_s=0.005, window=4)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        assert lag.lag_s < 0.02  # idle: on time
        await _stall(0.06)  # one stall: one late tick
        await asyncio.sleep(0.006)
        assert lag.lag_s < 0.02
        for _ in range(12):  # behind, tick after tick (a tick every other stall)
            await _stall(0.03)
        assert lag.lag_s >= 0.02
        await asyncio.sleep(0.1)  # caught up
        assert lag.lag_s < 0.02
    finally:
        lag.close()
