"""The model registry in Redis (the source of truth): one card per version in a hash, each
change applied with a compare-and-set script that also appends to the audit stream and
publishes, so a card and its audit trail can never disagree. Gateway processes report what
they have loaded in a heartbeat hash; a card's ``loaded_by`` is read from it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.errors import Conflict, NotFound
from gateway.keys import Keys
from gateway.models.card import ModelCard

# A gateway process whose heartbeat is older than this is not counted as live.
HEARTBEAT_TTL_S: Final = 5.0

# KEYS: models hash, audit stream. ARGV: version, expected card JSON ('' = absent), new card
# JSON, audit record, channel. Returns 1, or nil when the card is not what was expected.
_CAS = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return nil end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Heartbeat:
    process: str
    ts: float
    loaded: tuple[str, ...]
    loading: tuple[str, ...]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"ts": self.ts, "loaded": list(self.loaded), "loading": list(self.loading)}
        )


class ModelStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def _raw(self, version: str) -> bytes | None:
        raw = await self.redis.hget(self.keys.models, version)
        return None if raw is None else bytes(raw, "utf-8") if isinstance(raw, str) else raw

    async def get(self, version: str) -> ModelCard:
        raw = await self._raw(version)
        if raw is None:
            raise NotFound(f"model version {version!r} is not registered")
        return ModelCard.from_json(orjson.loads(raw))

    async def find(self, version: str) -> ModelCard | None:
        raw = await self._raw(version)
        return None if raw is None else ModelCard.from_json(orjson.loads(raw))

    async def all(self) -> list[ModelCard]:
        raw: Any = await self.redis.hgetall(self.keys.models)
        cards = [ModelCard.from_json(orjson.loads(v)) for v in raw.values()]
        return sorted(cards, key=lambda c: c.registered_at)

    async def register(self, card: ModelCard, actor: str, reason: str) -> bool:
        """Store a new card; False if the version exists already (the caller compares bytes)."""
        return await self._cas(card.version, b"", card, actor, reason or "registered", None)

    async def update(
        self,
        version: str,
        change: Callable[[ModelCard], ModelCard],
        actor: str,
        reason: str,
    ) -> ModelCard:
        """Apply ``change`` to the stored card atomically; retried while others change it."""
        for _ in range(100):
            raw = await self._raw(version)
            if raw is None:
                raise NotFound(f"model version {version!r} is not registered")
            old = ModelCard.from_json(orjson.loads(raw))
            new = change(old)
            if new == old:
                return old
            if await self._cas(version, raw, new, actor, reason, old):
                return new
            await asyncio.sleep(0.005)
        raise Conflict(f"model version {version!r} kept changing under this change; try again")

    async def _cas(
        self,
        version: str,
        expected: bytes,
        card: ModelCard,
        actor: str,
        reason: str,
        old: ModelCard | None,
    ) -> bool:
        new_json = card.to_json()
        old_json = {} if old is None else old.to_json()
        diff = [
            {"path": f"models[{version!r}].{k}", "old": old_json.get(k), "new": v}
            for k, v in new_json.items()
            # gates_history: the old "gates" in this same diff already carry what moved there
            if old_json.get(k) != v
            and (old is not None or k in ("state", "sha256"))
            and k != "gates_history"
        ]
        audit = orjson.dumps(
            {
                "actor": actor,
                "reason": reason,
                "ts": time.time(),
                "version": None,
                "model": version,
                "diff": diff,
            }
        )
        result = await self.redis.eval(
            _CAS,
            2,
            self.keys.models,
            self.keys.audit,
            version,
            expected,
            orjson.dumps(new_json),
            audit,
            self.keys.models_channel,
        )
        return result is not None

    async def beat(self, heartbeat: Heartbeat) -> None:
        await self.redis.hset(self.keys.gateways, heartbeat.process, heartbeat.to_json())

    async def leave(self, process: str) -> None:
        await self.redis.hdel(self.keys.gateways, process)

    async def live_gateways(self, now: float | None = None) -> list[Heartbeat]:
        """Gateway processes with a fresh heartbeat; stale entries are removed."""
        now = time.time() if now is None else now
        raw: Any = await self.redis.hgetall(self.keys.gateways)
        live, stale = [], []
        for process, value in raw.items():
            data = orjson.loads(value)
            name = process.decode() if isinstance(process, bytes) else str(process)
            if now - float(data["ts"]) > HEARTBEAT_TTL_S * 6:
                stale.append(name)
            elif now - float(data["ts"]) <= HEARTBEAT_TTL_S:
                live.append(
                    Heartbeat(
                        name, float(data["ts"]), tuple(data["loaded"]), tuple(data["loading"])
                    )
                )
        if stale:
            await self.redis.hdel(self.keys.gateways, *stale)
        return sorted(live, key=lambda h: h.process)
