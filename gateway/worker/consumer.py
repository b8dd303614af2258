"""Consumer-group reader of the exposure and outcome streams.

Exposures are applied before outcomes within a read. An outcome whose exposure
has not arrived yet (gateways flush independently) is held in a
:class:`RetrySchedule` and acknowledged only once applied, so a crash
redelivers it; after ``give_up_after_s`` it is acknowledged and counted as an
orphan. An entry that cannot be applied at all (malformed, or refused by a
script as invalid or overflowing) goes to the dead-letter stream with the
reason and is acknowledged, so that one bad entry never holds back the others.

After a restart, :meth:`StreamConsumer.drain_pending` re-reads this consumer's
whole pending list, page after page, with a cursor.

A purchase without a search id (at checkout) is attributed by the outcome script from the
user's exposures and the running experiments' attribution windows, which the consumer reads
from the routing config whenever its version moves (:class:`AttributionWindows`); one that no
window covers is acknowledged and counted as ``unattributed``.

A consumer reads one shard's two streams (:mod:`gateway.keys`): a user's exposures and
outcomes are in the same shard, and every script call it makes stays in that shard's slot.
The worker runs one consumer per shard.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from gateway.catalogue.quantities import CATALOGUE, Catalogue
from gateway.config import INTERLEAVED_ARM, RoutingConfig, phase_stats_id
from gateway.control.store import ConfigStore
from gateway.keys import Keys, ShardKeys
from gateway.records import ExposureRecord, OutcomeRecord, RecordError
from gateway.throttled_log import ThrottledLog
from gateway.worker.aggregates import (
    APPLIED,
    CAPPED,
    DUPLICATE,
    INVALID,
    NO_EXPOSURE,
    NOT_ON_PAGE,
    OVERFLOW,
    PAGE_SEPARATOR,
    UNATTRIBUTED,
    WRONG_USER,
    EventCaps,
    EventTtls,
)
from gateway.worker.retry_schedule import Held, RetrySchedule

log = logging.getLogger("abgate.worker")

GROUP: Final = "abgate-workers"
READ_COUNT: Final = 1000
DEAD_LETTER_MAXLEN: Final = 100_000
_REFUSED: Final = {
    INVALID: "invalid event",
    OVERFLOW: "a statistic would overflow",
    WRONG_USER: "the event's user_id is not the user of the search it names",
    NOT_ON_PAGE: "the item was not on the page the search showed",
}

Entry = tuple[bytes, Any]  # (entry id, fields as redis-py returns them)


@dataclass
class ConsumerStats:
    exposures: int = 0
    outcomes: int = 0
    duplicates: int = 0
    deferred: int = 0  # outcomes held at least once for their exposure
    retries: int = 0  # tries of held outcomes
    orphaned: int = 0
    dead: int = 0  # entries moved to the dead-letter stream
    capped: int = 0  # outcomes past a per-user cap: acknowledged, not counted
    # purchases at checkout that no running experiment's attribution window covers
    unattributed: int = 0
    applied_types: Counter[str] = field(default_factory=Counter)  # outcomes applied, by type


def attribution_windows(config: RoutingConfig) -> str:
    """The running experiments' attribution windows as the outcome script reads them:
    ``"key=seconds,..."`` (keys hold no ',' or '=')."""
    windows = [f"{e.key}={int(e.analysis.attribution_window_s)}" for e in config.running]
    holdout = config.holdout  # its exposure index entry is its stats id (no '@': phase 0)
    if holdout is not None and holdout.active:
        windows.append(f"{holdout.stats_id}={int(holdout.attribution_window_s)}")
    return ",".join(windows)


@dataclass
class AttributionWindows:
    """The current routing config's attribution windows, read again only when its version
    has moved (one GET per batch with a purchase at checkout). No config yet: no window."""

    store: ConfigStore
    _version: int = -1
    _windows: str = ""

    async def current(self) -> str:
        version = await self.store.version()
        if version != self._version:
            try:
                version, config = await self.store.load()
            except LookupError:
                self._version, self._windows = version, ""
            else:
                self._version, self._windows = version, attribution_windows(config)
        return self._windows


@dataclass
class StreamConsumer:
    redis: Redis
    keys: Keys
    name: str
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    clock: Callable[[], float] = time.monotonic
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    _sha: dict[str, str] = field(default_factory=dict)
    _orphan_log: ThrottledLog = field(default_factory=lambda: ThrottledLog(log, 5.0))
    _dead_log: ThrottledLog = field(default_factory=lambda: ThrottledLog(log, 1.0))
    shard: int = 0
    ttls: EventTtls = field(default_factory=EventTtls)
    caps: EventCaps = field(default_factory=EventCaps)
    catalogue: Catalogue = CATALOGUE  # what the scripts keep (gateway.catalogue)
    _exposure_lua: str = field(init=False, default="")
    _outcome_lua: str = field(init=False, default="")
    _windows: AttributionWindows = field(init=False)

    def __post_init__(self) -> None:
        self._exposure_lua = self.ttls.exposure_lua(self.catalogue)
        self._outcome_lua = self.ttls.outcome_lua(self.catalogue)
        self._windows = AttributionWindows(ConfigStore(self.redis, self.keys))

    @property
    def sk(self) -> ShardKeys:
        """The keys of the shard this consumer reads."""
        return self.keys.shard(self.shard)

    async def setup(self) -> None:
        for stream in (self.sk.exposures, self.sk.outcomes):
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        await self._load_scripts()

    async def _load_scripts(self) -> None:
        for script in (self._exposure_lua, self._outcome_lua):
            self._sha[script] = await self.redis.script_load(script)

    async def drain_pending(self) -> int:
        """After a restart: apply every entry this consumer read but never acknowledged.

        Each stream's pending list is read to its end with a cursor (exposures first,
        so that outcomes find them); outcomes still without an exposure are held.
        """
        total = 0
        for stream in (self.sk.exposures, self.sk.outcomes):
            cursor: bytes | str = "0"
            while True:
                reply: Any = await self.redis.xreadgroup(
                    GROUP, self.name, {stream: cursor}, count=READ_COUNT
                )
                entries: list[Entry] = reply[0][1] if reply else []
                if not entries:
                    break
                cursor = entries[-1][0]
                total += len(entries)
                if stream == self.sk.exposures:
                    await self._apply_exposures(entries)
                else:
                    await self._apply_outcomes(entries, [])
        return total

    async def step(self, block_ms: int | None = 500) -> int:
        """Read and apply one batch of new entries, and the held outcomes whose time has come.
        ``block_ms``: how long the read may wait for entries (None: not at all; Redis times a
        block out on its own clock tick, 100 ms by default, so a short one is not short)."""
        streams: dict[Any, Any] = {self.sk.exposures: ">"}
        if not self.schedule.full:  # bounded: no new outcomes until held ones drain
            streams[self.sk.outcomes] = ">"
        block = block_ms
        next_due = self.schedule.next_due()
        if next_due is not None and block_ms is not None:
            block = max(1, min(block_ms, int((next_due - self.clock()) * 1000) + 1))
        reply: Any = await self.redis.xreadgroup(
            GROUP, self.name, streams, count=READ_COUNT, block=block
        )
        exposures: list[Entry] = []
        outcomes: list[Entry] = []
        for stream, entries in reply or []:
            name = stream.decode() if isinstance(stream, bytes) else stream
            (exposures if name == self.sk.exposures else outcomes).extend(entries)
        await self._apply_exposures(exposures)
        due = self.schedule.take_due(self.clock(), READ_COUNT)
        await self._apply_outcomes(outcomes, due)
        return len(exposures) + len(outcomes) + len(due)

    async def _apply_exposures(self, entries: list[Entry]) -> None:
        if not entries:
            return
        ok: list[tuple[bytes, ExposureRecord]] = []
        argvs: list[list[Any]] = []
        for entry_id, fields in entries:
            exposure, raw, why = _parse(fields, ExposureRecord.from_json)
            if exposure is None:
                await self._dead(self.sk.exposures, entry_id, raw, why)
                continue
            ok.append((entry_id, exposure))
            argvs.append(_exposure_argv(exposure))
        results = await self._run(self._exposure_lua, argvs)
        searches = []
        for (entry_id, event), result in zip(ok, results, strict=True):
            if result == APPLIED:
                self.stats.exposures += 1
                searches.append(event.search_id)
            elif result == DUPLICATE:
                self.stats.duplicates += 1
            else:
                await self._dead(self.sk.exposures, entry_id, event, _why(result))
        self.schedule.wake(searches, self.clock())
        await self.redis.xack(self.sk.exposures, GROUP, *[entry_id for entry_id, _ in entries])

    async def _apply_outcomes(self, entries: list[Entry], due: list[Held]) -> None:
        todo: list[tuple[bytes, OutcomeRecord, Held | None]] = []
        ack: list[bytes] = []
        for entry_id, fields in entries:
            if entry_id in self.schedule:
                continue  # held already (a pending re-read): its retry is scheduled
            outcome, raw, why = _parse(fields, OutcomeRecord.from_json)
            if outcome is None:
                await self._dead(self.sk.outcomes, entry_id, raw, why)
                ack.append(entry_id)
                continue
            todo.append((entry_id, outcome, None))
        todo += [(h.entry_id, h.event, h) for h in due]
        checkout = any(not event.search_id for _, event, _ in todo)
        windows = await self._windows.current() if checkout else ""
        argvs = [_outcome_argv(event, self.caps, windows) for _, event, _ in todo]
        self.stats.retries += len(due)
        results = await self._run(self._outcome_lua, argvs)
        now = self.clock()
        settled: list[tuple[bytes, OutcomeRecord, Held | None]] = []
        for (entry_id, event, held), result in zip(todo, results, strict=True):
            if result == NO_EXPOSURE:
                if held is None:
                    self.stats.deferred += 1
                    self.schedule.hold(entry_id, event, now)
                    continue
                if self.schedule.retry_later(held, now):
                    continue
                if not event.search_id:  # at checkout: its last try settles it
                    settled.append((entry_id, event, None))
                    continue
                self.stats.orphaned += 1
                self._orphan_log.warning(
                    "outcome %s: search %s never seen; acknowledged as an orphan",
                    event.event_id,
                    event.search_id,
                )
            else:
                if held is not None:
                    self.schedule.done(held)
                await self._count(entry_id, event, result)
            ack.append(entry_id)
        if settled:
            final = [_outcome_argv(e, self.caps, windows, final=True) for _, e, _ in settled]
            for (entry_id, event, _), result in zip(
                settled, await self._run(self._outcome_lua, final), strict=True
            ):
                await self._count(entry_id, event, result)
                ack.append(entry_id)
        if ack:
            await self.redis.xack(self.sk.outcomes, GROUP, *ack)

    async def _count(self, entry_id: bytes, event: OutcomeRecord, result: Any) -> None:
        """A settled outcome's result in the figures (or the dead letters)."""
        if result == APPLIED:
            self.stats.outcomes += 1
            self.stats.applied_types[event.type] += 1
        elif result == CAPPED:
            self.stats.capped += 1
        elif result == UNATTRIBUTED:
            self.stats.unattributed += 1
        elif result == DUPLICATE:
            self.stats.duplicates += 1
        else:
            await self._dead(self.sk.outcomes, entry_id, event, _why(result))

    async def _run(self, script: str, argvs: Sequence[Sequence[Any]]) -> list[Any]:
        """One pipelined script call per argv; a failed call is its error, not the batch's."""
        if not argvs:
            return []
        for attempt in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for argv in argvs:
                # execute_command, not evalsha(): redis-py's cluster pipeline refuses the
                # evalsha method, but routes an EVALSHA by its KEYS like any keyed command,
                # and every call here has the shard's tag as its one key.
                pipe.execute_command("EVALSHA", self._sha[script], 1, self.sk.tag, *argv)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in results):
                await self._load_scripts()  # Redis restarted and lost its script cache
                continue
            return results
        return results

    async def _dead(self, stream: str, entry_id: bytes, raw: Any, reason: str) -> None:
        self.stats.dead += 1
        body = raw if isinstance(raw, bytes) else orjson.dumps(raw, default=repr)
        await self.redis.xadd(
            self.keys.dead_letters,
            {"stream": stream, "id": entry_id, "e": body, "error": reason},
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )
        self._dead_log.warning(
            "%s %s moved to the dead-letter stream: %s", stream, entry_id, reason
        )


def _why(result: Any) -> str:
    if isinstance(result, Exception):
        return f"script error: {result}"
    return _REFUSED.get(result, f"unexpected script result {result!r}")


R = TypeVar("R", ExposureRecord, OutcomeRecord)


def _parse(fields: Any, decode: Callable[[bytes], R]) -> tuple[R | None, bytes, str]:
    """(record, raw, "") or (None, what the entry held, why it cannot be applied)."""
    raw = fields.get(b"e") if isinstance(fields, dict) else None
    if raw is None:
        return None, b"", "entry has no event field (trimmed, or not written by a gateway)"
    try:
        return decode(raw), raw, ""
    except orjson.JSONDecodeError as exc:
        return None, raw, f"malformed JSON: {exc}"
    except RecordError as exc:
        return None, raw, f"missing or malformed field: {exc}"


def _exposure_argv(e: ExposureRecord) -> list[Any]:
    # Each phase's users and sums are kept apart: the scripts key them by the stats id.
    pairs = [x for a in e.assignments for x in (phase_stats_id(a.experiment, a.phase), a.variant)]
    # Item ids are printable, so the unit separator cannot be part of one (a SKU may hold ",").
    sep = PAGE_SEPARATOR
    page_items = f"{sep}{sep.join(str(i) for i in e.items)}{sep}" if e.items else ""
    return [
        e.event_id, e.search_id, e.user_id, _page(e), page_items, repr(e.ts), e.segments, *pairs
    ]  # fmt: skip


def _page(e: ExposureRecord) -> str:
    """The interleaved page as the exposure script reads it: "stats_id|teams|credit|" and
    "item:team:competitive" per slot; '' when the search showed no merged page."""
    page = e.interleaving
    interleaved = [a for a in e.assignments if a.variant == INTERLEAVED_ARM]
    if page is None or not interleaved:
        return ""
    a = interleaved[0]
    slots = ",".join(
        f"{item}:{team}:{int(competitive)}"
        for item, team, competitive in zip(e.items, page.teams, page.competitive, strict=True)
    )
    return f"{phase_stats_id(a.experiment, a.phase)}|{len(page.versions)}|{page.credit}|{slots}"


def _outcome_argv(
    e: OutcomeRecord, caps: EventCaps, windows: str, final: bool = False
) -> list[Any]:
    """The outcome script's arguments; ``windows`` (:func:`attribution_windows`) only for a
    purchase at checkout, the one event that reads them, and ``final`` for its last try (no
    window covers it: counted as unattributed rather than held again)."""
    return [
        e.event_id,
        e.search_id,
        e.type,
        repr(e.value),
        str(e.item_id),
        str(e.position),
        e.user_id,
        caps.per_search,
        caps.purchases_per_day,
        repr(e.ts),
        "" if e.search_id else windows,
        "1" if final else "",
    ]
