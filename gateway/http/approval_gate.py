"""Holding a change for a second admin: a handler whose change the approval policy covers asks
here, after checking the change (a bad one is refused at once, never held); held, the answer
is a 202 with the request, and nothing changes until another admin approves it
(:mod:`gateway.http.approvals`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.config import RoutingConfig, parse_routing, routing_to_dict
from gateway.control.approval_store import ApprovalStore, new_id
from gateway.control.approvals import ApprovalPolicy, ApprovalRequest, Change, rule_for
from gateway.control.audit import subjects
from gateway.control.changes import diff
from gateway.http.auth import actor
from gateway.http.errors import json_response
from gateway.http.state import Gateway


def approvals(gw: Gateway) -> ApprovalStore:
    return ApprovalStore(gw.redis, gw.keys)


async def dry_run(
    gw: Gateway, compute: Callable[[RoutingConfig], RoutingConfig]
) -> list[dict[str, Any]]:
    """The diff ``compute`` would make to the stored config, checked as the change would be
    (the parser's rules, versions registered, gated and loaded); nothing is written."""
    _, current = await gw.redis_guard.read(gw.store.load)
    updated = parse_routing(routing_to_dict(compute(current)))
    await gw.routing_check(current, updated)
    return diff(current, updated)


async def held(
    request: web.Request,
    gw: Gateway,
    *,
    change: Change,
    target: str,
    params: dict[str, Any],
    summary: str,
    reason: str,
    compute: Callable[[RoutingConfig], RoutingConfig] | None = None,
    would: list[dict[str, Any]] | None = None,
    concerns: list[str] | None = None,
    coverage: tuple[float, float] | None = None,
    new_policy: ApprovalPolicy | None = None,
) -> web.Response | None:
    """A 202 holding the change when the policy covers it; None when it applies at once.

    What it would do is ``compute``'s diff of the config (checked now: a change that would be
    refused is refused, and one that changes nothing is not held), else ``would``;
    ``concerns`` are its audit subjects when the diff does not name them."""
    store = approvals(gw)
    policy = await gw.redis_guard.read(store.policy)
    rule = rule_for(policy, change, coverage, new_policy)
    if rule is None:
        return None
    if compute is not None:
        would = await dry_run(gw, compute)
    if not would:
        return None
    now = time.time()
    pending = ApprovalRequest(
        id=new_id(),
        change=change,
        target=target,
        params=params,
        summary=summary,
        diff=would,
        rule=rule,
        subjects=concerns if concerns is not None else subjects({"diff": would}),
        requested_by=actor(request),
        reason=reason,
        requested_at=now,
        expires_at=now + policy.expires_after_s,
    )
    gw.redis_guard.check()
    pending = await store.ask(pending)
    return json_response(
        {
            "approval": pending.to_json(),
            "message": f"not applied: {rule} (approval policy). Another admin approves it: "
            f"abgate approvals approve {pending.id} (POST /v1/approvals/{pending.id}/approve), "
            f"or rejects it; it expires in {policy.expires_after_s:g} s",
        },
        status=202,
    )
