"""Admin API for approvals: the policy (read; change, audited), the held changes (list, read)
and their decision. Approving a request makes its change exactly as the call that asked for it
would have, checked against the config of that moment (409 naming why it no longer applies),
by its requester, its audit entry naming the approval and the approver."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

from aiohttp import web

from gateway.config import RoutingConfig, phase_stats_id
from gateway.control import changes
from gateway.control.approvals import ApprovalRequest, audit_note, parse_policy
from gateway.errors import ConfigError, Conflict, GatewayError, RequestError, Unavailable
from gateway.http import lifecycle
from gateway.http.api_approvals import ApprovalPolicyBody, ApproveBody
from gateway.http.api_types import ReasonBody
from gateway.http.approval_gate import approvals, held
from gateway.http.auth import actor
from gateway.http.body import read_body_as, required_reason
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.records import DecisionRecord, EvaluationRecord

RECENT_SHOWN: Final = 50


async def get_policy(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response(await gw.redis_guard.read(approvals(gw).describe_policy))


async def put_policy(request: web.Request) -> web.Response:
    """The fields to change (the others keep theirs), validated; audited with the diff. A change
    that loosens a policy holding anything waits for a second admin."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, ApprovalPolicyBody)
    fields = body.changes()
    if not fields:
        raise RequestError("$", "no field to change; the policy's fields: " + _fields())
    store = approvals(gw)
    try:
        old, new = await gw.redis_guard.read(lambda: store.proposed_policy(fields))
    except ConfigError as exc:
        raise ConfigError(f"$.{exc.where}", exc.detail) from None
    reason = body.reason or "approval policy changed"
    hold = await held(
        request,
        gw,
        change="approval-policy.set",
        target="approval-policy",
        params={"old": old.to_json(), "new": new.to_json()},
        summary=f"change the approval policy: {fields}",
        reason=reason,
        would=old.diff(new),
        concerns=["approval-policy"],
        new_policy=new,
    )
    if hold is not None:
        return hold
    gw.redis_guard.check()
    diff = await store.set_policy(new, actor(request), reason, expected=old)
    return json_response(await store.describe_policy() | {"diff": diff})


def _fields() -> str:
    return ", ".join(f for f in ApprovalPolicyBody.__struct_fields__ if f != "reason")


async def list_approvals(request: web.Request) -> web.Response:
    """Pending requests, then the most recent decided ones, newest first."""
    gw = request.app[GATEWAY]
    every = await gw.redis_guard.read(approvals(gw).all)
    return json_response(
        {
            "pending": [r.to_json() for r in every if r.status == "pending"],
            "recent": [r.to_json() for r in every if r.status != "pending"][:RECENT_SHOWN],
        }
    )


def _approval_id(request: web.Request) -> str:
    raw = request.match_info["approval"]
    if not (1 <= len(raw) <= 64 and raw.isalnum()):
        raise RequestError("approval", f"expected an approval id (letters, digits), got {raw!r}")
    return raw


async def get_approval(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    approval_id = _approval_id(request)
    found = await gw.redis_guard.read(lambda: approvals(gw).get(approval_id))
    return json_response(found.to_json())


async def approve(request: web.Request) -> web.Response:
    """Approve a pending request (not one's own: 403) and make its change now; a change that no
    longer applies leaves the request failed, saying why (409)."""
    gw = request.app[GATEWAY]
    approval_id = _approval_id(request)
    body = await read_body_as(request, gw, ApproveBody, optional=True)
    who = actor(request)
    store = approvals(gw)
    gw.redis_guard.check()
    pending = await store.get(approval_id)
    now = time.time()
    decided = pending.approve(who, body.reason or "approved", now)
    await store.decide(
        pending, decided, who, f"approved: {decided.summary}: {body.reason or '-'}", "approved"
    )
    try:
        version = await _replay(gw, decided)
    except Unavailable:
        raise  # Redis: the trail and the request say how far it got
    except GatewayError as exc:  # refused now: by the lifecycle, the config's rules, the registry
        why = str(exc)
        await store.decide(
            decided,
            decided.failed(why),
            who,
            f"approved, but it no longer applies: {why}",
            "failed",
        )
        raise Conflict(
            f"approval {approval_id!r}: approved, but it no longer applies: {why}"
        ) from None
    done = await store.decide(decided, decided.applied(version), who, "", "")
    return json_response(done.to_json())


async def reject(request: web.Request) -> web.Response:
    """Reject a pending request with a reason (its requester may withdraw it this way)."""
    gw = request.app[GATEWAY]
    approval_id = _approval_id(request)
    reason = required_reason((await read_body_as(request, gw, ReasonBody)).reason)
    who = actor(request)
    store = approvals(gw)
    gw.redis_guard.check()
    pending = await store.get(approval_id)
    decided = pending.reject(who, reason, time.time())
    await store.decide(pending, decided, who, f"rejected: {decided.summary}: {reason}", "rejected")
    return json_response(decided.to_json())


# --- replays: each held change made as the call that asked for it would have made it


Replay = Callable[[Gateway, ApprovalRequest, dict[str, Any]], Awaitable[int | None]]


async def _replay(gw: Gateway, request: ApprovalRequest) -> int | None:
    """Make ``request``'s change; the config version it made (None: not a config change)."""
    extra = {"approval": audit_note(request, "applied") | {"approved_by": request.decided_by}}
    return await _REPLAYS[request.change](gw, request, extra)


def _reason(request: ApprovalRequest) -> str:
    return f"{request.reason} (approval {request.id}, approved by {request.decided_by})"


def _config_change(
    compute: Callable[[ApprovalRequest], Callable[[RoutingConfig], RoutingConfig]],
) -> Replay:
    async def replay(gw: Gateway, request: ApprovalRequest, extra: dict[str, Any]) -> int | None:
        version, _, _ = await lifecycle.apply_as(
            gw, request.requested_by, compute(request), _reason(request), extra
        )
        return version

    return replay


def _phase_held(key: str, winner: str, phase: int) -> Callable[[RoutingConfig], RoutingConfig]:
    """The decision loop's promotion, refused if the experiment moved on to another phase
    since (the evidence was that phase's)."""

    def compute(config: RoutingConfig) -> RoutingConfig:
        if config.has(key) and config.experiment(key).phase != phase:
            raise Conflict(
                f"experiment {key!r} is in phase {config.experiment(key).phase} now; the "
                f"decision was taken on phase {phase}"
            )
        return changes.conclude(config, key, winner, "promoted")

    return compute


async def _loop_promotion(
    gw: Gateway, request: ApprovalRequest, extra: dict[str, Any]
) -> int | None:
    """The decision loop's promotion, then its phase's stored evaluation says so: it said
    'continue, awaiting approval', and a concluded experiment would have shown that for good."""
    key, winner, phase = (
        request.params["key"],
        request.params["winner"],
        int(request.params["phase"]),
    )
    version, _, _ = await lifecycle.apply_as(
        gw, request.requested_by, _phase_held(key, winner, phase), _reason(request), extra
    )
    sid = phase_stats_id(key, phase)
    raw = await gw.redis.hget(gw.keys.decisions, sid)
    if raw is not None:
        record = EvaluationRecord.from_json(raw)
        kept = tuple(r for r in record.decision.reasons if "awaits an admin's approval" not in r)
        decision = DecisionRecord(
            "promote",
            winner,
            (*kept, f"promoted: approved by {request.decided_by} (approval {request.id})"),
            rule="success",
        )
        await gw.redis.hset(
            gw.keys.decisions,
            sid,
            replace(record, decision=decision, applied_version=version).encode(),
        )
    return version


async def _start(gw: Gateway, request: ApprovalRequest, extra: dict[str, Any]) -> int | None:
    key = request.params["key"]
    await lifecycle.check_startable(gw, key, bool(request.params.get("ignore_missing_features")))
    version, _, _ = await lifecycle.apply_as(
        gw,
        request.requested_by,
        lambda c: changes.start(c, key, time.time()),
        _reason(request),
        extra,
    )
    return version


async def _override(gw: Gateway, request: ApprovalRequest, extra: dict[str, Any]) -> int | None:
    await gw.registrar.override(request.params["version"], request.requested_by, _reason(request))
    gw.follower.kick()
    return None


async def _policy(gw: Gateway, request: ApprovalRequest, extra: dict[str, Any]) -> int | None:
    old, new = parse_policy(request.params["old"]), parse_policy(request.params["new"])
    await approvals(gw).set_policy(new, request.requested_by, _reason(request), expected=old)
    return None


_REPLAYS: Final[dict[str, Replay]] = {
    "production.set": _config_change(
        lambda r: lambda c: changes.set_production(c, r.params["version"])
    ),
    "production.rollback": _config_change(
        lambda r: lifecycle.rollback_change(r.params["from"], r.params["to"])
    ),
    "experiment.promote": _config_change(
        lambda r: lambda c: changes.promote(c, r.params["key"], r.params.get("variant"))
    ),
    "experiment.edit": _config_change(
        lambda r: (
            lambda c: changes.edit_experiment(c, r.params["key"], r.params["edits"], time.time())
        )
    ),
    "decision.promote": _loop_promotion,
    "experiment.start": _start,
    "model.override": _override,
    "approval-policy.set": _policy,
}
