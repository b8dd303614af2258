"""The webhooks in Redis: endpoints (registered and removed with their audit entry in one
script), the deliveries waiting to be sent, the dispatcher's cursor in the audit stream, the
alerts each experiment phase last raised, and each endpoint's bounded delivery log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.control.store import note_entry
from gateway.errors import Conflict, NotFound
from gateway.keys import Keys
from gateway.webhooks.records import Attempt, Delivery, Endpoint, url_origin

MAX_ENDPOINTS: Final = 100
LOG_SIZE: Final = 200  # attempts kept per endpoint, newest first

# KEYS: endpoints hash, audit stream. ARGV: name, endpoint JSON, audit entry, the most endpoints.
_REGISTER: Final = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
return 1
"""
# KEYS: endpoints hash, audit stream. ARGV: name, audit entry.
_REMOVE: Final = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return 1
"""
# KEYS: lease. ARGV: holder, time to live (ms). 1 when the caller holds the lease.
_LEASE: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _audit_of(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "origin": url_origin(endpoint.url),
        "events": list(endpoint.events),
    }


class WebhookStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # --- endpoints (the admin API)

    async def register(self, endpoint: Endpoint, actor: str, reason: str) -> None:
        entry = note_entry(actor, reason, time.time(), webhook=_audit_of(endpoint))
        done = await self.redis.eval(
            _REGISTER,
            2,
            self.keys.webhooks,
            self.keys.audit,
            endpoint.name,
            endpoint.encode(),
            entry,
            str(MAX_ENDPOINTS),
        )
        if done == 0:
            raise Conflict(f"webhook {endpoint.name!r} exists; remove it first to change it")
        if done == -1:
            raise Conflict(f"{MAX_ENDPOINTS} webhooks are registered, the most there may be")

    async def remove(self, name: str, actor: str, reason: str) -> Endpoint:
        endpoint = await self.get(name)
        entry = note_entry(actor, reason, time.time(), webhook=_audit_of(endpoint))
        if not await self.redis.eval(_REMOVE, 2, self.keys.webhooks, self.keys.audit, name, entry):
            raise NotFound(f"no webhook named {name!r}")
        return endpoint

    async def get(self, name: str) -> Endpoint:
        raw = await self.redis.hget(self.keys.webhooks, name)
        if raw is None:
            raise NotFound(f"no webhook named {name!r}")
        return Endpoint.decode(raw)

    async def find(self, name: str) -> Endpoint | None:
        raw = await self.redis.hget(self.keys.webhooks, name)
        return None if raw is None else Endpoint.decode(raw)

    async def all(self) -> list[Endpoint]:
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.webhooks)
        return sorted((Endpoint.decode(v) for v in raw.values()), key=lambda e: e.name)

    async def attempts(self, name: str, count: int = LOG_SIZE) -> list[Attempt]:
        """The endpoint's delivery log, newest first."""
        raw: list[Any] = await self.redis.lrange(self.keys.webhook_log(name), 0, count - 1)
        return [Attempt.decode(r) for r in raw]

    async def waiting(self, name: str) -> list[Delivery]:
        """The endpoint's deliveries not yet delivered nor given up."""
        return [d for d in await self.pending() if d.endpoint == name]

    # --- the dispatcher

    async def lease(self, holder: str, ttl_s: float) -> bool:
        return bool(
            await self.redis.eval(
                _LEASE, 1, self.keys.webhook_lease, holder, str(max(1, round(ttl_s * 1000)))
            )
        )

    async def release(self, holder: str) -> None:
        await self.redis.eval(_RELEASE, 1, self.keys.webhook_lease, holder)

    async def cursor(self) -> str | None:
        raw = await self.redis.get(self.keys.webhook_cursor)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    async def audit_after(self, cursor: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        """Audit entries after ``cursor`` (exclusive), oldest first."""
        raw: Any = await self.redis.xrange(self.keys.audit, f"({cursor}", "+", count=count)
        return [(i.decode(), orjson.loads(f[b"e"])) for i, f in raw]

    async def last_audit_id(self) -> str:
        raw: Any = await self.redis.xrevrange(self.keys.audit, count=1)
        return raw[0][0].decode() if raw else "0-0"

    async def enqueue(
        self,
        deliveries: Sequence[Delivery],
        cursor: str | None = None,
        alerts: dict[str, list[str]] | None = None,
        forget: Sequence[str] = (),
    ) -> None:
        """Store new deliveries (one already stored is kept as it is: a re-read makes the same
        ids), with the cursor and the alert state they were read up to, in one transaction;
        ``forget``: phases whose alerts are no longer followed (they ended)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for d in deliveries:
                pipe.hsetnx(self.keys.webhook_pending, d.id, d.encode())
            if cursor is not None:
                pipe.set(self.keys.webhook_cursor, cursor)
            for stats_id, raised in (alerts or {}).items():
                pipe.hset(self.keys.webhook_alerts, stats_id, orjson.dumps(raised))
            if forget:
                pipe.hdel(self.keys.webhook_alerts, *forget)
            await pipe.execute()

    async def pending_ids(self) -> list[str]:
        raw: list[Any] = await self.redis.hkeys(self.keys.webhook_pending)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    async def pending(self) -> list[Delivery]:
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.webhook_pending)
        return [Delivery.decode(v) for v in raw.values()]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        raw = await self.redis.hget(self.keys.webhook_pending, delivery_id)
        return None if raw is None else Delivery.decode(raw)

    async def record(self, delivery: Delivery, attempt: Attempt, settled: bool) -> None:
        """Log an attempt; the delivery is forgotten once ``settled`` (delivered, given up or
        dropped), else kept with its attempts counted."""
        key = self.keys.webhook_log(delivery.endpoint)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, attempt.encode())
            pipe.ltrim(key, 0, LOG_SIZE - 1)
            if settled:
                pipe.hdel(self.keys.webhook_pending, delivery.id)
            else:
                pipe.hset(self.keys.webhook_pending, delivery.id, delivery.encode())
            await pipe.execute()

    async def follow(self, stats_ids: Sequence[str]) -> None:
        """Phases whose evaluations the dispatcher reads (again), with no alert raised yet
        unless it follows them already."""
        if stats_ids:
            async with self.redis.pipeline(transaction=True) as pipe:
                for stats_id in stats_ids:
                    pipe.hsetnx(self.keys.webhook_alerts, stats_id, b"[]")
                await pipe.execute()

    async def alert_state(self) -> dict[str, list[str]]:
        """Phase (stats id) -> the alerts its latest evaluation raised, for every phase the
        dispatcher follows."""
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.webhook_alerts)
        return {k.decode() if isinstance(k, bytes) else k: orjson.loads(v) for k, v in raw.items()}
