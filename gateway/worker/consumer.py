"""Consumer-group reader of the exposure and outcome streams.

Exposures are applied before outcomes within a read. An outcome whose exposure
has not arrived yet (gateways flush independently) is held and retried, and
acknowledged only once applied, so a crash redelivers it; after
``ORPHAN_AFTER_S`` it is acknowledged and counted as orphaned.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway.control.store import Keys
from gateway.worker.aggregates import EXPOSURE_LUA, OUTCOME_LUA

log = logging.getLogger("abgate.worker")

GROUP: Final = "abgate-workers"
ORPHAN_AFTER_S: Final = 30.0
READ_COUNT: Final = 1000


@dataclass
class ConsumerStats:
    exposures: int = 0
    outcomes: int = 0
    duplicates: int = 0
    deferred: int = 0
    orphaned: int = 0


@dataclass
class _Deferred:
    entry_id: bytes
    event: dict[str, Any]
    since: float


@dataclass
class StreamConsumer:
    redis: Redis
    keys: Keys
    name: str
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    _deferred: list[_Deferred] = field(default_factory=list)
    _exposure_sha: str = ""
    _outcome_sha: str = ""

    async def setup(self) -> None:
        for stream in (self.keys.exposures, self.keys.outcomes):
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._exposure_sha = await self.redis.script_load(EXPOSURE_LUA)
        self._outcome_sha = await self.redis.script_load(OUTCOME_LUA)

    async def step(self, block_ms: int = 500, pending: bool = False) -> int:
        """Read and apply one batch; ``pending`` re-reads this consumer's unacknowledged entries."""
        start = "0" if pending else ">"
        reply: Any = await self.redis.xreadgroup(
            GROUP,
            self.name,
            {self.keys.exposures: start, self.keys.outcomes: start},
            count=READ_COUNT,
            block=None if pending else block_ms,
        )
        exposures: list[tuple[bytes, dict[str, Any]]] = []
        outcomes: list[tuple[bytes, dict[str, Any]]] = []
        for stream, entries in reply or []:
            name = stream.decode() if isinstance(stream, bytes) else stream
            target = exposures if name == self.keys.exposures else outcomes
            target.extend(
                (entry_id, orjson.loads(fields[b"e"])) for entry_id, fields in entries if fields
            )
        if pending and self._deferred:
            held = {d.entry_id for d in self._deferred}
            outcomes = [o for o in outcomes if o[0] not in held]
        await self._apply_exposures(exposures)
        await self._apply_outcomes(outcomes)
        return len(exposures) + len(outcomes)

    async def drain_pending(self) -> None:
        """After a restart: apply what this consumer read but never acknowledged."""
        # Held (deferred) entries stay pending and would be re-read forever: stop at the first.
        while await self.step(pending=True) and not self._deferred:
            pass

    async def _apply_exposures(self, entries: list[tuple[bytes, dict[str, Any]]]) -> None:
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        for _, e in entries:
            pairs = [x for a in e.get("assignments", []) for x in (a["experiment"], a["variant"])]
            pipe.evalsha(
                self._exposure_sha,
                0,
                self.keys.prefix,
                e["event_id"],
                e["search_id"],
                e["user_id"],
                *pairs,
            )
        results = await pipe.execute()
        self.stats.exposures += sum(1 for r in results if r == 1)
        self.stats.duplicates += sum(1 for r in results if r == 0)
        await self.redis.xack(self.keys.exposures, GROUP, *[entry_id for entry_id, _ in entries])

    async def _apply_outcomes(self, entries: list[tuple[bytes, dict[str, Any]]]) -> None:
        now = asyncio.get_running_loop().time()
        retry, self._deferred = self._deferred, []
        todo = [(d.entry_id, d.event, d.since) for d in retry] + [(i, e, now) for i, e in entries]
        if not todo:
            return
        pipe = self.redis.pipeline(transaction=False)
        for _, e, _ in todo:
            pipe.evalsha(
                self._outcome_sha,
                0,
                self.keys.prefix,
                e["event_id"],
                e["search_id"],
                e["type"],
                repr(float(e.get("value", 0.0))),
            )
        results = await pipe.execute()
        ack: list[bytes] = []
        for (entry_id, event, since), result in zip(todo, results, strict=True):
            if result == -1:
                if now - since < ORPHAN_AFTER_S:
                    if since == now:
                        self.stats.deferred += 1
                    self._deferred.append(_Deferred(entry_id, event, since))
                    continue
                self.stats.orphaned += 1
                log.warning(
                    "outcome %s: search %s never seen; dropped as orphan",
                    event["event_id"],
                    event["search_id"],
                )
            elif result == 1:
                self.stats.outcomes += 1
            else:
                self.stats.duplicates += 1
            ack.append(entry_id)
        if ack:
            await self.redis.xack(self.keys.outcomes, GROUP, *ack)
