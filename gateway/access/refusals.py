"""Refused attempts: each one counted and logged (throttled); written into the audit trail at
most once per ``interval_s`` per process, with how many were held back since the last entry.

A flood of wrong tokens therefore costs Redis one XADD per interval, and the trail still says
that it happened, from where, and how often.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.control.store import note_entry
from gateway.keys import Keys
from gateway.throttled_log import ThrottledLog

log = logging.getLogger("abgate.auth")

ANONYMOUS: Final = "anonymous"


@dataclass(frozen=True)
class Refusal:
    actor: str  # the token's owner when the token was valid but its role too low
    reason: str  # no_token | bad_token | role
    method: str
    path: str
    remote: str | None
    detail: str

    def audit_entry(self, held_back: int, now: float) -> bytes:
        return note_entry(
            self.actor,
            f"refused {self.method} {self.path}: {self.detail}",
            now,
            refused={
                "reason": self.reason,
                "method": self.method,
                "path": self.path,
                "remote": self.remote,
                "held_back": held_back,
            },
        )


@dataclass
class RefusalAudit:
    redis: Redis
    keys: Keys
    interval_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _next_at: float = field(default=0.0, init=False)
    _held_back: int = field(default=0, init=False)
    _log: ThrottledLog = field(default_factory=lambda: ThrottledLog(log), init=False)

    async def record(self, refusal: Refusal) -> None:
        metrics.REFUSED.labels(refusal.reason).inc()
        self._log.warning(
            "refused %s %s from %s (%s): %s",
            refusal.method,
            refusal.path,
            refusal.remote,
            refusal.actor,
            refusal.detail,
        )
        now = self.clock()
        if now < self._next_at:
            self._held_back += 1
            return
        held_back, self._held_back = self._held_back, 0
        self._next_at = now + self.interval_s
        try:
            await self.redis.xadd(
                self.keys.audit, {"e": refusal.audit_entry(held_back, time.time())}
            )
        except (RedisError, OSError) as exc:
            self._log.warning("cannot audit a refusal (%s)", exc)
