"""Who gates a version: one gateway process at a time, and a bounded number of times.

A process gates a version only under a claim in Redis (``SET NX PX``, expiring a margin past
the gates' deadline), taken by a script that also counts the runs. A process that stops
releases its claim; one that dies leaves it to expire. Either way another process may take
the version over, until :data:`MAX_GATE_RUNS` runs have started; then the version fails
instead of being gated again and again.

Keys (under the registry's hash tag, so that one script touches one slot):
``<models>:gate-claim:<version>`` (the owner's token) and ``<models>:gate-runs`` (a hash:
version -> runs started).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

from redis.asyncio import Redis

from gateway.keys import Keys

MAX_GATE_RUNS: Final = 3

# KEYS: models hash, claim, runs hash. ARGV: version, token, ttl ms, max runs.
# Returns {outcome, runs started (or the claim's remaining ms when held)}.
_CLAIM = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'done', 0} end
if cjson.decode(raw)['state'] ~= 'gating' then return {'done', 0} end
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 or ttl == -1 then return {'held', ttl} end
local runs = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if runs >= tonumber(ARGV[4]) then return {'exhausted', runs} end
redis.call('HSET', KEYS[3], ARGV[1], runs + 1)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {'claimed', runs + 1}
"""

# KEYS: claim, runs hash. ARGV: token, version, '1' to forget the runs too.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[3] == '1' then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
"""

Outcome = Literal["claimed", "held", "exhausted", "done"]


@dataclass(frozen=True)
class Claim:
    """``claimed``: this process gates it (run ``runs``); ``held``: another does; ``exhausted``:
    ``runs`` runs started and none finished; ``done``: it is not gating (any more)."""

    outcome: Outcome
    runs: int = 0


class GateClaims:
    def __init__(self, redis: Redis, keys: Keys, max_runs: int = MAX_GATE_RUNS) -> None:
        self.redis = redis
        self.keys = keys
        self.max_runs = max_runs
        # Opaque: a claim names no host or process id.
        self.token = uuid.uuid4().hex

    def claim_key(self, version: str) -> str:
        return f"{self.keys.models}:gate-claim:{version}"

    @property
    def runs_key(self) -> str:
        return f"{self.keys.models}:gate-runs"

    async def claim(self, version: str, ttl_s: float) -> Claim:
        outcome, runs = await self.redis.eval(
            _CLAIM,
            3,
            self.keys.models,
            self.claim_key(version),
            self.runs_key,
            version,
            self.token,
            max(1, round(ttl_s * 1000)),
            self.max_runs,
        )
        name = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        return Claim(name, 0 if name == "held" else int(runs))  # type: ignore[arg-type]

    async def release(self, version: str, finished: bool) -> None:
        """Give the claim up; ``finished``: the results are recorded, forget the runs."""
        await self.redis.eval(
            _RELEASE,
            2,
            self.claim_key(version),
            self.runs_key,
            self.token,
            version,
            "1" if finished else "0",
        )
