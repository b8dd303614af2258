"""Who is calling: the bearer token → a principal, checked against the role its route needs.

The middleware runs before any handler reads a body. A route's role comes from the route table
(:mod:`gateway.http.routes`); a route not in it (the data plane, health, docs) is public. The
principal's name is the actor of every change the request makes: it comes from the token,
never from a header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final, NoReturn

from aiohttp import web

from gateway import metrics
from gateway.access.refusals import ANONYMOUS, Refusal
from gateway.access.roles import Principal, Role
from gateway.errors import Forbidden, RequestError, Unauthorized, Unavailable
from gateway.http.state import GATEWAY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PRINCIPAL: Final = web.RequestKey("abgate.principal", Principal)
ROLES: Final = web.AppKey("abgate.roles", dict[tuple[str, str], Role])
# ABGATE_SERVING_AUTH=open: searches and events need no token.
SERVING_OPEN: Final = web.AppKey("abgate.serving_open", bool)
# Older clients named the actor in this header; it is refused unless it names the token's owner.
ACTOR_HEADER: Final = "X-Abgate-Actor"


def bearer(headers: Mapping[str, str]) -> tuple[str | None, str]:
    """(token, '') or (None, why not)."""
    header = headers.get("Authorization")
    if header is None:
        return None, "no Authorization header"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, "expected 'Authorization: Bearer <token>'"
    return token.strip(), ""


def needed_role(request: web.Request) -> Role | None:
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[ROLES].get((method, resource.canonical))


async def authenticate(request: web.Request) -> Principal | None:
    """The caller, or None when no token was sent (a wrong token is refused here)."""
    gw = request.app[GATEWAY]
    token, why = bearer(request.headers)
    if token is None:
        if "Authorization" in request.headers:
            await _refuse(request, ANONYMOUS, "bad_token", why)
        return None
    principal = await gw.authenticator.identify(token)
    if principal is None and gw.authenticator.unreadable:
        # Perhaps a token created after this process last read them: not known to be wrong.
        raise Unavailable(
            "this token is not among those this process has read, and the tokens cannot be "
            "read now (Redis is unreachable); try again shortly",
            retry_after_s=5.0,
        )
    if principal is None:
        owner = gw.authenticator.revoked_owner(token)
        if owner is not None:
            await _refuse(request, owner, "revoked_token", f"{owner}'s token was revoked")
        await _refuse(request, ANONYMOUS, "bad_token", "unknown token")
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    needed = needed_role(request)
    if needed is None:
        return await handler(request)
    open_serving = needed is Role.STOREFRONT and request.app[SERVING_OPEN]
    if open_serving and "Authorization" not in request.headers:
        # Open serving needs no token; one that is sent is checked all the same, so that a
        # wrong storefront token shows before the deployment requires one.
        return await handler(request)
    principal = await authenticate(request)
    if principal is None:
        await _refuse(request, ANONYMOUS, "no_token", "no Authorization header")
    if not principal.may(needed):
        needs = (
            "a storefront's token (or an admin's)" if needed is Role.STOREFRONT else needed.label
        )
        await _refuse(
            request,
            principal.name,
            "role",
            f"{principal.name} is {principal.role.label}; this needs {needs}",
        )
    claimed = request.headers.get(ACTOR_HEADER)
    if claimed is not None and claimed != principal.name:
        raise RequestError(
            ACTOR_HEADER,
            f"the actor is the token's owner, {principal.name!r}, not a header "
            f"({claimed[:64]!r}); drop the header or use {claimed[:64]!r}'s own token",
        )
    request[PRINCIPAL] = principal
    return await handler(request)


def actor(request: web.Request) -> str:
    """The name the audit trail records for this request's changes."""
    return request[PRINCIPAL].name


async def _refuse(
    request: web.Request, who: str, reason: metrics.RefusalReason, detail: str
) -> NoReturn:
    gw = request.app[GATEWAY]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    gw.refusal_audit.record(
        Refusal(who, reason, request.method, route, request.path, request.remote, detail)
    )
    if reason == "role":
        raise Forbidden(detail)
    raise Unauthorized(f"missing or wrong bearer token ({detail})")
