"""The admin bearer token: compared as bytes in constant time; refused attempts logged, throttled."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.errors import Unauthorized
from gateway.http.state import Gateway


def require_admin(request: web.Request, gw: Gateway) -> None:
    """Raise :class:`Unauthorized` unless the request carries the admin bearer token."""
    header = request.headers.get("Authorization")
    if header is None:
        why = "no Authorization header"
    else:
        scheme, _, token = header.partition(" ")
        # Header values arrive as str decoded with surrogateescape; bytes compare any of them.
        given = token.strip().encode("utf-8", "surrogateescape")
        if scheme.lower() != "bearer":
            why = "not a bearer token"
        elif hmac.compare_digest(given, gw.settings.admin_token.encode()):
            return
        else:
            why = "wrong bearer token"
    gw.refusals.warning(
        "refused %s %s from %s: %s", request.method, request.path, request.remote, why
    )
    raise Unauthorized("missing or wrong bearer token")
