"""The routing config in Redis: one JSON document, a version counter, an audit stream.

A change is computed from the current document, validated, then applied with a
compare-and-set Lua script that also appends the audit record and publishes the
new version, so config, version and audit can never disagree.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from gateway.config import RoutingConfig, parse_routing, routing_to_dict
from gateway.control.changes import diff
from gateway.errors import Conflict

_CAS = """
local current = redis.call('GET', KEYS[2])
if (current or '0') ~= ARGV[1] then return nil end
local version = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2])
local audit = string.gsub(ARGV[3], '"__VERSION__"', tostring(version))
redis.call('XADD', KEYS[3], '*', 'e', audit)
redis.call('PUBLISH', ARGV[4], version)
return version
"""

# Compare-and-set retries: "full jitter" exponential backoff (a uniform sleep in
# [0, min(cap, base * 2**attempt)]), so that writers racing for one key spread out
# instead of colliding again in lock-step; given up after the deadline.
RETRY_BASE_S = 0.005
RETRY_CAP_S = 0.25
RETRY_DEADLINE_S = 10.0


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def config(self) -> str:
        return f"{self.prefix}:config"

    @property
    def version(self) -> str:
        return f"{self.prefix}:config:version"

    @property
    def audit(self) -> str:
        return f"{self.prefix}:audit"

    @property
    def channel(self) -> str:
        return f"{self.prefix}:config:changed"

    @property
    def exposures(self) -> str:
        return f"{self.prefix}:stream:exposures"

    @property
    def outcomes(self) -> str:
        return f"{self.prefix}:stream:outcomes"

    @property
    def dead_letters(self) -> str:
        """Stream of entries the worker could not apply, with the reason (never silently dropped)."""
        return f"{self.prefix}:stream:dead"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}:decisions"

    @property
    def started(self) -> str:
        """Hash: experiment key -> wall-clock time the worker first saw it running."""
        return f"{self.prefix}:started"

    def stats(self, experiment: str) -> str:
        return f"{self.prefix}:stats:{experiment}"


class ConfigStore:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        known_versions: Collection[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.known_versions = known_versions
        self.rng = rng or random.Random()

    async def seed(self, config: RoutingConfig, actor: str) -> bool:
        """Store ``config`` as version 1 if no config exists yet; True if it did."""
        applied = await self.redis.eval(
            _CAS,
            3,
            self.keys.config,
            self.keys.version,
            self.keys.audit,
            "0",
            orjson.dumps(routing_to_dict(config)),
            _audit(
                actor,
                "seeded from configs/",
                diff(RoutingConfig(config.default_model_version), config),
            ),
            self.keys.channel,
        )
        return applied is not None

    async def version(self) -> int:
        raw = await self.redis.get(self.keys.version)
        return int(raw or 0)

    async def load(self) -> tuple[int, RoutingConfig]:
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.keys.version)
        pipe.get(self.keys.config)
        raw_version, raw_config = await pipe.execute()
        if raw_config is None:
            raise LookupError(f"no routing config at {self.keys.config}")
        return int(raw_version), parse_routing(orjson.loads(raw_config), self.known_versions)

    async def change(
        self, compute: Callable[[RoutingConfig], RoutingConfig], actor: str, reason: str
    ) -> tuple[int, RoutingConfig, list[dict[str, Any]]]:
        """Apply ``compute`` to the current config atomically; retried if another change wins."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_DEADLINE_S
        attempt = 0
        while True:
            version, current = await self.load()
            updated = compute(current)
            validated = parse_routing(routing_to_dict(updated), self.known_versions)
            changes = diff(current, validated)
            if not changes:
                return version, current, []
            new_version = await self.redis.eval(
                _CAS,
                3,
                self.keys.config,
                self.keys.version,
                self.keys.audit,
                str(version),
                orjson.dumps(routing_to_dict(validated)),
                _audit(actor, reason, changes),
                self.keys.channel,
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

    async def audit_log(self, count: int = 100) -> list[dict[str, Any]]:
        entries: Any = await self.redis.xrevrange(self.keys.audit, count=count)
        return [
            orjson.loads(fields[b"e"]) | {"id": entry_id.decode()} for entry_id, fields in entries
        ]


def _audit(actor: str, reason: str, changes: list[dict[str, Any]]) -> bytes:
    record = {
        "actor": actor,
        "reason": reason,
        "ts": time.time(),
        "version": "__VERSION__",
        "diff": changes,
    }
    return orjson.dumps(record)
