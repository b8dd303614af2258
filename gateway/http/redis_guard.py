"""Admin reads against Redis that fail fast: a short deadline, then a cool-down.

The search and event paths never wait on Redis. The admin API must read it,
but a paused or unreachable Redis must cost a caller a 503 with ``Retry-After``
quickly, not the client's two-second socket timeout per request: after one
failure every call in the next ``cooldown_s`` is refused at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import RedisError

from gateway.errors import Unavailable

T = TypeVar("T")


@dataclass
class RedisGuard:
    timeout_s: float = 0.5
    cooldown_s: float = 1.0
    # Another part's knowledge that Redis is down (the event sink spooling), checked first.
    known_down: Callable[[], bool] = lambda: False
    _down_until: float = field(default=0.0, init=False)

    def check(self) -> None:
        """Raise :class:`Unavailable` if Redis failed within the cool-down."""
        if self.known_down():
            raise Unavailable("redis unavailable (events are being spooled); retry shortly")
        left = self._down_until - time.monotonic()
        if left > 0:
            raise Unavailable("redis unavailable; retry shortly", retry_after_s=max(1.0, left))

    def failed(self) -> None:
        self._down_until = time.monotonic() + self.cooldown_s

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` within ``timeout_s``; a Redis failure becomes :class:`Unavailable`."""
        self.check()
        try:
            return await asyncio.wait_for(call(), self.timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed()
            raise Unavailable(f"redis unavailable ({type(exc).__name__}); retry shortly") from None
