"""Admin API for tokens: list (names and roles, never hashes), create (the token shown once),
revoke. Each creation and revocation is audited."""

from __future__ import annotations

from aiohttp import web

from gateway.access.roles import Role
from gateway.access.tokens import TokenRecord
from gateway.errors import ConfigError, RequestError
from gateway.http.auth import PRINCIPAL, actor
from gateway.http.body import object_fields, read_json, read_optional_json, reason_field
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
    body = object_fields(await read_json(request, gw), ("name", "role", "reason"), ("name", "role"))
    name = body["name"]
    if not isinstance(name, str):
        raise RequestError("$.name", f"expected a name, got {name!r}")
    try:
        role = Role.parse(body["role"], "$.role")
    except ConfigError as exc:
        raise RequestError(exc.where, exc.detail) from None
    reason = reason_field(body, required=False) or "token created"
    gw.redis_guard.check()
    token, record = await gw.tokens.create(name, role, actor(request))
    gw.authenticator.invalidate()
    await _note(gw, actor(request), f"token {name} ({role.label}) created: {reason}", record)
    return json_response(record.view() | {"token": token}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    body = object_fields(await read_optional_json(request, gw), ("reason",))
    reason = reason_field(body, required=False) or "revoked"
    gw.redis_guard.check()
    record = await gw.tokens.revoke(name, actor(request))
    gw.authenticator.invalidate()
    await _note(gw, actor(request), f"token {name} revoked: {reason}", record)
    return json_response(record.view() | {"revoked": True})


async def _note(gw: Gateway, who: str, reason: str, record: TokenRecord) -> None:
    await gw.store.note(who, reason, token={"name": record.name, "role": record.role.label})
