"""Refused attempts: each one counted and logged (throttled), and written into the audit trail
aggregated by who was refused on which route: every ``interval_s`` the process writes one entry
per (actor, reason, method, route) refused since the last write, with how many times, from which
addresses, and the first and last wall-clock time.

Every refused actor therefore appears in the trail within ``interval_s``, whoever else was
refused meanwhile, and a flood of wrong tokens still costs Redis one entry per group and
interval. The groups are bounded: actors are token owners (or ``anonymous``) and routes come
from the route table.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from gateway.tasks import cancel_and_wait
from gateway.throttled_log import ThrottledLog

log = logging.getLogger("abgate.auth")

ANONYMOUS: Final = "anonymous"
INTERVAL_S: Final = 2.0
# Past this many groups in one interval, further ones are folded into their actor's "*" route.
MAX_GROUPS: Final = 1_000
MAX_REMOTES: Final = 8  # addresses listed per entry (the count covers them all)


@dataclass(frozen=True)
class Refusal:
    actor: str  # the token's owner when the token was valid but its role too low
    reason: metrics.RefusalReason
    method: str
    route: str  # the route table's path (``/v1/experiments/{key}``): what groups refusals
    path: str  # the path asked for
    remote: str | None
    detail: str

    @property
    def group(self) -> tuple[str, str, str, str]:
        return (self.actor, self.reason, self.method, self.route)


@dataclass
class RefusedGroup:
    """The refusals of one actor on one route within an interval."""

    first: Refusal
    first_at: float
    last_at: float
    count: int = 1
    remotes: list[str] = field(default_factory=list)

    def add(self, refusal: Refusal, now: float) -> None:
        self.count += 1
        self.last_at = now
        self._remember(refusal.remote)

    def absorb(self, later: RefusedGroup) -> None:
        """The same group's refusals since (kept together when a write failed)."""
        self.count += later.count
        self.last_at = later.last_at
        for remote in later.remotes:
            self._remember(remote)

    def _remember(self, remote: str | None) -> None:
        if remote and remote not in self.remotes and len(self.remotes) < MAX_REMOTES:
            self.remotes.append(remote)

    def audit_entry(self) -> bytes:
        r = self.first
        times = "" if self.count == 1 else f" ({self.count} times)"
        return note_entry(
            r.actor,
            f"refused {r.method} {r.route}{times}: {r.detail}",
            self.first_at,
            refused={
                "reason": r.reason,
                "method": r.method,
                "route": r.route,
                "path": r.path,
                "remotes": self.remotes,
                "count": self.count,
                "first_at": self.first_at,
                "last_at": self.last_at,
            },
        )


@dataclass
class RefusalAudit:
    redis: Redis
    keys: Keys
    interval_s: float = INTERVAL_S
    wall_clock: Callable[[], float] = time.time
    _pending: dict[tuple[str, str, str, str], RefusedGroup] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _log: ThrottledLog = field(default_factory=lambda: ThrottledLog(log), init=False)

    def record(self, refusal: Refusal) -> None:
        """Count, log and hold a refusal for the next audit write (never waits on Redis)."""
        metrics.REFUSED.labels(refusal.reason).inc()
        self._log.warning(
            "refused %s %s from %s (%s): %s",
            refusal.method,
            refusal.path,
            refusal.remote,
            refusal.actor,
            refusal.detail,
        )
        now = self.wall_clock()
        key = refusal.group
        if key not in self._pending and len(self._pending) >= MAX_GROUPS:
            key = (refusal.actor, refusal.reason, refusal.method, "*")
        group = self._pending.get(key)
        if group is None:
            remotes = [refusal.remote] if refusal.remote else []
            self._pending[key] = RefusedGroup(refusal, now, now, remotes=remotes)
        else:
            group.add(refusal, now)

    async def flush(self) -> int:
        """Write one audit entry per group held since the last write; how many were written.
        Groups that cannot be written (Redis down) are kept and merged with later ones."""
        if not self._pending:
            return 0
        groups, self._pending = self._pending, {}
        pipe = self.redis.pipeline(transaction=False)
        for group in groups.values():
            pipe.xadd(self.keys.audit, {"e": group.audit_entry()})
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._log.warning("cannot audit %d refused groups (%s)", len(groups), exc)
            for key, group in groups.items():
                later = self._pending.get(key)
                if later is not None:
                    group.absorb(later)
                if later is not None or len(self._pending) < MAX_GROUPS:
                    self._pending[key] = group
            return 0
        return len(groups)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="refusal-audit")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 1.0)
