"""Admin API for shadow versions: which run in shadow on what share of production's searches,
and how their rankings agree with production's."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.control import changes
from gateway.http import api_types as t
from gateway.http.body import path_id, read_body_as
from gateway.http.errors import json_response
from gateway.http.lifecycle import apply_change
from gateway.http.state import GATEWAY
from gateway.ops.agreement import report


async def list_shadows(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    config = gw.router.config

    async def read() -> list[dict[str, Any]]:
        out = []
        for s in config.shadows:
            raw: Any = await gw.redis.hgetall(gw.keys.shadow(s.version))
            figures = {k.decode(): float(v) for k, v in raw.items()}
            out.append({"version": s.version, "share": s.share} | report(figures))
        return out

    return json_response(
        {
            "production": config.production,
            "shadows": await gw.redis_guard.read(read),
        }
    )


async def set_shadow(request: web.Request) -> web.Response:
    """``{"share": 0.5, "reason": "..."}``: score that share of production's searches too."""
    gw = request.app[GATEWAY]
    version = path_id(request, "version")
    body = await read_body_as(request, gw, t.ShadowBody)
    share = body.share
    reason = body.reason or f"shadow {version} on {share:g}"
    result, config, diff = await apply_change(
        request, gw, lambda c: changes.set_shadow(c, version, float(share)), reason
    )
    await gw.shadow.started()  # this process's worker takes the next search; others follow
    return json_response({"version": result, "diff": diff, "shadows": _shadows(config)})


async def stop_shadow(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    version = path_id(request, "version")
    body = await read_body_as(request, gw, t.OptionalReasonBody, optional=True)
    reason = body.reason or f"shadow {version} stopped"
    result, config, diff = await apply_change(
        request, gw, lambda c: changes.stop_shadow(c, version), reason
    )
    return json_response({"version": result, "diff": diff, "shadows": _shadows(config)})


def _shadows(config: Any) -> list[dict[str, Any]]:
    return [{"version": s.version, "share": s.share} for s in config.shadows]
