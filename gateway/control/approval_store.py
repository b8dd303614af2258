"""The approval policy and the held changes in Redis (the control plane's slot).

The policy is one JSON string, absent until first set (nothing needs approval). Requests are
a hash, id -> JSON; every step of one (asked, approved, rejected, expired, failed) is a
compare-and-set script that also appends its audit entry, so a request and its trail never
disagree and two admins deciding at once cannot both win. A request nobody decided is marked
expired by the first reader after its time (:data:`gateway.control.actors.APPROVAL_EXPIRY`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.control.actors import APPROVAL_EXPIRY
from gateway.control.approvals import (
    ApprovalPolicy,
    ApprovalRequest,
    audit_note,
    changed_policy,
    parse_policy,
)
from gateway.errors import Conflict, NotFound
from gateway.keys import Keys

# KEYS: the requests hash, the audit stream, the open index. ARGV: id, expected JSON ('' = no
# request yet), new JSON, audit entry ('' = none), open-index field ('' = none).
# Asking anew under an open-index field whose request is still pending answers that request's
# id instead (the decision loop asks once per experiment).
_STEP: Final = """
if ARGV[2] == '' and ARGV[5] ~= '' then
  local open = redis.call('HGET', KEYS[3], ARGV[5])
  if open then
    local held = redis.call('HGET', KEYS[1], open)
    if held and cjson.decode(held)['status'] == 'pending'
       and cjson.decode(held)['expires_at'] > cjson.decode(ARGV[3])['requested_at'] then
      return open
    end
  end
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return nil end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[2] == '' and ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[1]) end
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[4]) end
return ARGV[1]
"""
# KEYS: policy, audit stream. ARGV: expected JSON ('' = none stored), new JSON, audit entry.
_POLICY: Final = """
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return nil end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
return 1
"""
ATTEMPTS: Final = 50
# Decided requests kept (the oldest beyond are dropped as new ones come; pending never are).
KEEP_DECIDED: Final = 500


def _bytes(raw: Any) -> bytes:
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _entry(actor: str, reason: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {"actor": actor, "reason": reason, "ts": time.time(), "version": None, "diff": []} | extra
    )


class ApprovalStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # --- the policy

    async def _policy_raw(self) -> bytes | None:
        raw = await self.redis.get(self.keys.approval_policy)
        return None if raw is None else _bytes(raw)

    async def policy(self) -> ApprovalPolicy:
        raw = await self._policy_raw()
        return ApprovalPolicy() if raw is None else parse_policy(orjson.loads(raw))

    async def describe_policy(self) -> dict[str, Any]:
        raw = await self._policy_raw()
        policy = ApprovalPolicy() if raw is None else parse_policy(orjson.loads(raw))
        return {"policy": policy.to_json(), "stored": raw is not None}

    async def set_policy(
        self, new: ApprovalPolicy, actor: str, reason: str, expected: ApprovalPolicy | None = None
    ) -> list[dict[str, Any]]:
        """Store ``new`` (audited with the diff); none written when nothing changes. With
        ``expected``, refused (409) unless the policy in force is still that one."""
        for _ in range(ATTEMPTS):
            raw = await self._policy_raw()
            old = ApprovalPolicy() if raw is None else parse_policy(orjson.loads(raw))
            if expected is not None and old != expected:
                raise Conflict(
                    "the approval policy changed since this change was asked for; ask again"
                )
            diff = old.diff(new)
            if not diff:
                return []
            entry = _entry(
                actor, reason or "approval policy changed", approval_policy=True, diff=diff
            )
            done = await self.redis.eval(
                _POLICY,
                2,
                self.keys.approval_policy,
                self.keys.audit,
                raw or b"",
                orjson.dumps(new.to_json()),
                entry,
            )
            if done is not None:
                return diff
            await asyncio.sleep(0.005)
        raise Conflict("the approval policy kept changing under this change; try again")

    async def proposed_policy(
        self, changes: dict[str, Any]
    ) -> tuple[ApprovalPolicy, ApprovalPolicy]:
        """(the policy in force, the one ``changes`` would leave); errors name the field."""
        old = await self.policy()
        return old, changed_policy(old, changes)

    # --- requests

    async def _step(
        self,
        request: ApprovalRequest,
        expected: bytes,
        entry: bytes,
        open_field: str = "",
    ) -> str | None:
        done = await self.redis.eval(
            _STEP,
            3,
            self.keys.approvals,
            self.keys.audit,
            self.keys.approvals_open,
            request.id,
            expected,
            request.encode(),
            entry,
            open_field,
        )
        return None if done is None else _bytes(done).decode()

    async def ask(self, request: ApprovalRequest, open_field: str = "") -> ApprovalRequest:
        """Keep ``request`` (pending), audited as asked for by its requester. Under
        ``open_field``, a pending request already kept there is answered instead."""
        entry = _entry(
            request.requested_by,
            f"held for approval: {request.summary}: {request.reason}",
            approval=audit_note(request, "requested"),
        )
        done = await self._step(request, b"", entry, open_field)
        if done is None:  # an id taken: vanishingly rare with 48 random bits
            raise Conflict("approval id collision; ask again")
        await self._trim()
        return request if done == request.id else await self.get(done)

    async def _raw(self, approval_id: str) -> bytes | None:
        raw = await self.redis.hget(self.keys.approvals, approval_id)
        return None if raw is None else _bytes(raw)

    async def get(self, approval_id: str, now: float | None = None) -> ApprovalRequest:
        """One request (marked expired first if its time passed); 404 naming it."""
        raw = await self._raw(approval_id)
        if raw is None:
            raise NotFound(f"approval {approval_id!r} does not exist")
        request = ApprovalRequest.decode(raw)
        if request.due(time.time() if now is None else now):
            request = await self._expire(request, raw)
        return request

    async def _expire(self, request: ApprovalRequest, raw: bytes) -> ApprovalRequest:
        expired = request.expire()
        entry = _entry(
            APPROVAL_EXPIRY,
            f"expired: nobody approved or rejected it in time ({request.summary})",
            approval=audit_note(expired, "expired"),
        )
        if await self._step(expired, raw, entry) is None:
            return await self.get(request.id)  # decided meanwhile: read what it became
        return expired

    async def all(self, now: float | None = None) -> list[ApprovalRequest]:
        """Every kept request, newest first (those past their time marked expired)."""
        now = time.time() if now is None else now
        raw: Any = await self.redis.hgetall(self.keys.approvals)
        out = []
        for value in raw.values():
            request = ApprovalRequest.decode(_bytes(value))
            if request.due(now):
                request = await self._expire(request, _bytes(value))
            out.append(request)
        return sorted(out, key=lambda r: (-r.requested_at, r.id))

    async def latest_open(self, open_field: str) -> ApprovalRequest | None:
        """The latest request kept under ``open_field`` (whatever its status), if any."""
        found = await self.redis.hget(self.keys.approvals_open, open_field)
        if found is None:
            return None
        try:
            return await self.get(_bytes(found).decode())
        except NotFound:
            return None

    async def decide(
        self, before: ApprovalRequest, after: ApprovalRequest, actor: str, reason: str, event: str
    ) -> ApprovalRequest:
        """Move a request from ``before`` to ``after``, audited as ``event`` by ``actor`` (no
        entry when ``event`` is empty); 409 if it changed meanwhile."""
        entry = b"" if not event else _entry(actor, reason, approval=audit_note(after, event))
        if await self._step(after, before.encode(), entry) is None:
            raise Conflict(f"approval {before.id!r} was decided meanwhile; read it again")
        return after

    async def _trim(self) -> None:
        if await self.redis.hlen(self.keys.approvals) <= KEEP_DECIDED * 2:
            return
        decided = [r for r in await self.all() if r.status != "pending"]
        old = [r.id for r in decided[KEEP_DECIDED:]]
        if old:
            await self.redis.hdel(self.keys.approvals, *old)


def new_id() -> str:
    """A request's id: 12 hex digits, random (nothing to guess from the one before)."""
    return secrets.token_hex(6)
