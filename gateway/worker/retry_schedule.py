"""Outcomes waiting for their exposure: when to try each again, and when to give up.

Gateways flush independently, so a click can reach the stream before the
exposure of its search; such an outcome is held and tried again. Trying every
held outcome at every step costs one Lua call each, every few milliseconds:
20 000 orphans cost 8 s of CPU in 10 s. Here each outcome waits before its
next try, doubling from ``first_delay_s`` up to ``max_delay_s``; it is tried at
once when an exposure of its search is applied; and it is given up (an orphan)
``give_up_after_s`` after it was first held. The schedule is bounded: at
``capacity`` the consumer stops reading new outcomes until it drains. Pure:
the caller passes the clock's time in.

A held outcome is never off the schedule while it is held: :meth:`RetrySchedule.take_due`
gives each outcome it returns a provisional next try (``first_delay_s`` later, a lease) that
:meth:`~RetrySchedule.retry_later` replaces and :meth:`~RetrySchedule.done` ends. A try that
never reports back — the Redis call failed — is therefore simply tried again.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.records import OutcomeRecord


@dataclass(eq=False)
class Held:
    entry_id: bytes
    event: OutcomeRecord
    first_held: float
    attempts: int = 0
    due: float = 0.0
    _ticket: int = 0  # of its live heap entry; older entries for it are stale


@dataclass
class RetrySchedule:
    first_delay_s: float = 0.25
    max_delay_s: float = 8.0
    give_up_after_s: float = 30.0
    # A purchase at checkout that no attribution window covers yet: the user's exposure may be
    # a flush behind. It waits this long, then is counted as unattributed (most such purchases
    # are of users in no experiment, so this is kept short).
    checkout_give_up_s: float = 5.0
    capacity: int = 100_000
    _heap: list[tuple[float, int, Held]] = field(default_factory=list)
    _by_search: dict[str, list[Held]] = field(default_factory=dict)
    _held: dict[bytes, Held] = field(default_factory=dict)
    _tickets: itertools.count[int] = field(default_factory=itertools.count)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, entry_id: bytes) -> bool:
        return entry_id in self._held

    @property
    def full(self) -> bool:
        return len(self._held) >= self.capacity

    def hold(self, entry_id: bytes, event: OutcomeRecord, now: float) -> None:
        """Hold a new outcome; its first retry is ``first_delay_s`` from now."""
        held = Held(entry_id, event, first_held=now)
        self._held[entry_id] = held
        if event.search_id:  # a purchase at checkout waits for time alone (no search to wake it)
            self._by_search.setdefault(event.search_id, []).append(held)
        self._schedule(held, now + self.first_delay_s)

    def retry_later(self, held: Held, now: float) -> bool:
        """After a failed try: schedule the next one, or False when it is time to give up."""
        give_up = self.give_up_after_s if held.event.search_id else self.checkout_give_up_s
        if now - held.first_held >= give_up:
            self._forget(held)
            return False
        held.attempts += 1
        delay = min(self.max_delay_s, self.first_delay_s * 2**held.attempts)
        self._schedule(held, min(now + delay, held.first_held + give_up))
        return True

    def done(self, held: Held) -> None:
        """The outcome was applied (or otherwise settled): forget it."""
        self._forget(held)

    def wake(self, search_ids: Iterable[str], now: float) -> int:
        """Make every outcome held for these searches due now; how many were woken."""
        woken = 0
        for search_id in search_ids:
            for held in self._by_search.get(search_id, ()):
                if held.due > now:
                    self._schedule(held, now)
                    woken += 1
        return woken

    def take_due(self, now: float, limit: int) -> list[Held]:
        """Up to ``limit`` outcomes whose time has come, earliest first, each leased: tried
        again ``first_delay_s`` from now unless its try reports back (retry_later or done)."""
        out: list[Held] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            _, ticket, held = heapq.heappop(self._heap)
            if ticket == held._ticket and held.entry_id in self._held:
                out.append(held)
        for held in out:
            self._schedule(held, now + self.first_delay_s)
        return out

    def next_due(self) -> float | None:
        while self._heap:
            due, ticket, held = self._heap[0]
            if ticket == held._ticket and held.entry_id in self._held:
                return due
            heapq.heappop(self._heap)
        return None

    def _schedule(self, held: Held, due: float) -> None:
        held.due = due
        held._ticket = next(self._tickets)
        heapq.heappush(self._heap, (due, held._ticket, held))

    def _forget(self, held: Held) -> None:
        self._held.pop(held.entry_id, None)
        search_id = held.event.search_id
        waiting = self._by_search.get(search_id)
        if waiting is not None:
            waiting[:] = [h for h in waiting if h is not held]
            if not waiting:
                del self._by_search[search_id]
