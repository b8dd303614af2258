"""The gates' policy in Redis: one JSON document, changed by a compare-and-set script that also
appends the audit record (who, why, the diff), so the policy and its trail never disagree.

Until a policy is first set, the store holds none and :meth:`GatePolicyStore.get` answers the
deployment's default (the ``ABGATE_GATE_*`` settings); nothing is written on start. A gate run
reads the policy when it starts, so a change needs no restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.errors import Conflict
from gateway.keys import Keys
from gateway.models.gate_policy import GatePolicy

# KEYS: policy, audit stream. ARGV: expected JSON ('' = none stored), new JSON, audit record.
_CAS: Final = """
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return nil end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
return 1
"""
ATTEMPTS: Final = 50


class GatePolicyStore:
    def __init__(self, redis: Redis, keys: Keys, default: GatePolicy) -> None:
        self.redis = redis
        self.keys = keys
        self.default = default

    async def _raw(self) -> bytes | None:
        raw = await self.redis.get(self.keys.gate_policy)
        return None if raw is None else raw.encode() if isinstance(raw, str) else bytes(raw)

    async def get(self) -> GatePolicy:
        raw = await self._raw()
        return self.default if raw is None else GatePolicy.from_json(orjson.loads(raw))

    async def describe(self) -> dict[str, Any]:
        raw = await self._raw()
        policy = self.default if raw is None else GatePolicy.from_json(orjson.loads(raw))
        return {"policy": policy.to_json(), "stored": raw is not None}

    async def change(
        self, changes: Mapping[str, Any], actor: str, reason: str
    ) -> tuple[GatePolicy, list[dict[str, Any]]]:
        """Apply ``changes`` (validated: errors name the field and value); the new policy and
        the diff. No change at all writes nothing."""
        for _ in range(ATTEMPTS):
            raw = await self._raw()
            old = self.default if raw is None else GatePolicy.from_json(orjson.loads(raw))
            new = old.changed(changes)
            diff = old.diff(new)
            if not diff:
                return old, []
            audit = {
                "actor": actor,
                "reason": reason or "gate policy changed",
                "ts": time.time(),
                "version": None,
                "gate_policy": True,
                "diff": diff,
            }
            done = await self.redis.eval(
                _CAS,
                2,
                self.keys.gate_policy,
                self.keys.audit,
                raw or b"",
                orjson.dumps(new.to_json()),
                orjson.dumps(audit),
            )
            if done is not None:
                return new, diff
            await asyncio.sleep(0.005)
        raise Conflict("the gate policy kept changing under this change; try again")
