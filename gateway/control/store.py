"""The routing config in Redis: one JSON document, a version counter, an audit stream.

A change is computed from the current document, validated, then applied with a
compare-and-set Lua script that also appends the audit record and publishes the
new version, so config, version and audit can never disagree.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePath
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.config import RoutingConfig, parse_routing, routing_to_dict
from gateway.control.changes import diff
from gateway.errors import Conflict
from gateway.keys import Keys

log = logging.getLogger("abgate.control")

# KEYS: config, version, audit, production history. ARGV: expected version, config JSON,
# audit record, channel, production-history record ('' when production did not move).
_CAS = """
local current = redis.call('GET', KEYS[2])
if (current or '0') ~= ARGV[1] then return nil end
local version = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
local audit = string.gsub(ARGV[3], '"__VERSION__"', tostring(version))
local id = redis.call('XADD', KEYS[3], '*', 'e', audit)
if ARGV[5] ~= '' then
  local history = string.gsub(ARGV[5], '"__VERSION__"', tostring(version))
  history = string.gsub(history, '"__AUDIT_ID__"', '"' .. id .. '"')
  redis.call('LPUSH', KEYS[4], history)
  redis.call('LTRIM', KEYS[4], 0, HISTORY_MAX - 1)
end
redis.call('PUBLISH', ARGV[4], version)
return version
""".replace("HISTORY_MAX", "1000")

# What a store without a routing config reads as: a deployment with nothing set yet.
EMPTY: Final = RoutingConfig(None)

# Compare-and-set retries: "full jitter" exponential backoff (a uniform sleep in
# [0, min(cap, base * 2**attempt)]), so that writers racing for one key spread out
# instead of colliding again in lock-step; given up after the deadline.
RETRY_BASE_S = 0.005
RETRY_CAP_S = 0.25
RETRY_DEADLINE_S = 10.0


class ConfigStore:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        rng: random.Random | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.rng = rng or random.Random()

    async def seed(self, config: RoutingConfig, actor: str, source: str = "configs/") -> bool:
        """Store ``config`` as version 1 if no config exists yet; True if it did. A config with
        nothing in it (no production, no experiment: what an empty store reads as) writes
        nothing, so the store stays empty for a later seed."""
        if config == EMPTY:
            return False
        reason = f"seeded from {PurePath(source).name}"  # no server path in the audit trail
        history = b"" if config.production is None else _history(actor, reason, None, config)
        applied = await self._cas(
            0,
            config,
            _audit(actor, reason, diff(RoutingConfig(config.production), config)),
            history,
        )
        return applied is not None

    async def exists(self) -> bool:
        """Whether a routing config is stored (an empty store has none)."""
        return bool(await self.redis.exists(self.keys.config))

    async def _cas(
        self, expected: int, config: RoutingConfig, audit: bytes, history: bytes
    ) -> int | None:
        result = await self.redis.eval(
            _CAS,
            4,
            self.keys.config,
            self.keys.version,
            self.keys.audit,
            self.keys.production_history,
            str(expected),
            orjson.dumps(routing_to_dict(config)),
            audit,
            self.keys.channel,
            history,
        )
        return None if result is None else int(result)

    async def seed_or_notice(self, config: RoutingConfig, actor: str, source: str) -> bool:
        """Seed an empty store from ``config`` (read from ``source``); True if it did.

        Otherwise, when the file differs from what Redis holds, one process (the
        first of a start-up, by a short-lived marker) says so: Redis is the source
        of truth and the file is not applied.
        """
        if await self.seed(config, actor, source):
            log.info("seeded the routing config from %s", source)
            return True
        _, stored = await self.load()
        if routing_to_dict(config) == routing_to_dict(EMPTY):
            return False  # an empty seed (a deployment from nothing): the store moved on from it
        if routing_to_dict(stored) != routing_to_dict(config) and await self.redis.set(
            self.keys.seed_notice, source, nx=True, ex=30
        ):
            log.warning(
                "%s differs from the routing config in Redis (%d differences); Redis is the "
                "source of truth and the file only seeds an empty store, so it is not applied",
                source,
                len(diff(config, stored)),
            )
        return False

    async def version(self) -> int:
        raw = await self.redis.get(self.keys.version)
        return int(raw or 0)

    async def load(self) -> tuple[int, RoutingConfig]:
        """(version, config); an empty store reads as version 0, no production, no experiment."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.keys.version)
        pipe.get(self.keys.config)
        raw_version, raw_config = await pipe.execute()
        if raw_config is None:
            return 0, EMPTY
        return int(raw_version), parse_routing(orjson.loads(raw_config))

    async def change(
        self,
        compute: Callable[[RoutingConfig], RoutingConfig],
        actor: str,
        reason: str,
        check: Callable[[RoutingConfig, RoutingConfig], Awaitable[None]] | None = None,
        audit_extra: Mapping[str, Any] | None = None,
    ) -> tuple[int, RoutingConfig, list[dict[str, Any]]]:
        """Apply ``compute`` to the current config atomically; retried if another change wins.

        ``check(old, new)`` may refuse the change (by raising) before it is written,
        e.g. when it routes to a model version that is not ready everywhere. ``audit_extra``
        adds fields to its audit entry (the approval a held change was applied with).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_DEADLINE_S
        attempt = 0
        while True:
            version, current = await self.load()
            updated = compute(current)
            validated = parse_routing(routing_to_dict(updated))
            if check is not None:
                await check(current, validated)
            changes = diff(current, validated)
            if not changes:
                return version, current, []
            history = b""
            if validated.production != current.production:
                history = _history(actor, reason, current, validated)
            new_version = await self._cas(
                version, validated, _audit(actor, reason, changes, audit_extra), history
            )
            if new_version is not None:
                return int(new_version), validated, changes
            attempt += 1
            pause = self.rng.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt))
            if loop.time() + pause > deadline:
                raise Conflict(
                    f"config changed under this change {attempt} times in "
                    f"{RETRY_DEADLINE_S:g} s; try again"
                )
            await asyncio.sleep(pause)

    async def note(self, actor: str, reason: str, **extra: Any) -> None:
        """An audit entry that changes no config (a token created or revoked, a refusal)."""
        await self.redis.xadd(
            self.keys.audit, {"e": note_entry(actor, reason, time.time(), **extra)}
        )

    async def audit_log(self, count: int = 100) -> list[dict[str, Any]]:
        entries: Any = await self.redis.xrevrange(self.keys.audit, count=count)
        return [
            orjson.loads(fields[b"e"]) | {"id": entry_id.decode()} for entry_id, fields in entries
        ]

    async def production_history(self, count: int = 100) -> list[dict[str, Any]]:
        raw: Any = await self.redis.lrange(self.keys.production_history, 0, count - 1)
        return [orjson.loads(item) for item in raw]


def _history(actor: str, reason: str, old: RoutingConfig | None, new: RoutingConfig) -> bytes:
    """A production change: from, to, who, why, and the experiment that promoted it, if one."""
    experiment = None
    if old is not None:
        for e in new.experiments:
            if e.outcome == "promoted" and (not old.has(e.key) or old.experiment(e.key).live):
                experiment = e.key
    record = {
        "from": None if old is None else old.production,
        "to": new.production,
        "actor": actor,
        "reason": reason,
        "experiment": experiment,
        "ts": time.time(),
        "version": "__VERSION__",
        "audit_id": "__AUDIT_ID__",
    }
    return orjson.dumps(record)


def note_entry(actor: str, reason: str, ts: float, **extra: Any) -> bytes:
    """The audit trail's form of an event that is not a config change."""
    return orjson.dumps(
        {"actor": actor, "reason": reason, "ts": ts, "version": None, "diff": []} | extra
    )


def _audit(
    actor: str,
    reason: str,
    changes: list[dict[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    record = {
        "actor": actor,
        "reason": reason,
        "ts": time.time(),
        "version": "__VERSION__",
        "diff": changes,
    } | dict(extra or {})
    return orjson.dumps(record)
