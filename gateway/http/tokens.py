"""Admin API for tokens: list (names and roles, never hashes), create (the token shown once),
revoke. Each creation and revocation is audited."""

from __future__ import annotations

from aiohttp import web

from gateway.access.roles import Role
from gateway.access.tokens import TokenRecord
from gateway.http import api_types as t
from gateway.http.auth import PRINCIPAL, actor
from gateway.http.body import read_body_as
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway


async def whoami(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    return json_response({"name": principal.name, "role": principal.role.label})


async def list_tokens(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    records = await gw.redis_guard.read(gw.tokens.all)
    return json_response({"tokens": [r.view() for r in sorted(records, key=lambda r: r.name)]})


async def create_token(request: web.Request) -> web.Response:
    """``{"name": "alice", "role": "experimenter", "reason": "..."}`` → the token, once."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.TokenBody)
    name = body.name
    role = Role.parse(body.role, "$.role")  # the type took only a role's label
    reason = body.reason or "token created"
    gw.redis_guard.check()
    token, record = await gw.tokens.create(name, role, actor(request))
    gw.authenticator.invalidate()
    await _note(gw, actor(request), f"token {name} ({role.label}) created: {reason}", record)
    return json_response(record.view() | {"token": token}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    body = await read_body_as(request, gw, t.OptionalReasonBody, optional=True)
    reason = body.reason or "revoked"
    gw.redis_guard.check()
    record = await gw.tokens.revoke(name, actor(request))
    gw.authenticator.invalidate()
    await _note(gw, actor(request), f"token {name} revoked: {reason}", record)
    return json_response(record.view() | {"revoked": True})


async def _note(gw: Gateway, who: str, reason: str, record: TokenRecord) -> None:
    await gw.store.note(who, reason, token={"name": record.name, "role": record.role.label})
