"""The deployment's segment dimensions (GET/PUT /v1/segments) and an experiment's results
broken down by them (GET /v1/experiments/{key}/segments)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from gateway.config.segments import dimensions_to_list, parse_dimensions
from gateway.control import changes
from gateway.errors import ConfigError, RequestError
from gateway.http import api_types as t
from gateway.http.body import read_body_as, required_reason
from gateway.http.errors import json_response
from gateway.http.lifecycle import apply_change
from gateway.http.state import GATEWAY


async def get_segments(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response({"dimensions": dimensions_to_list(gw.router.config.segments)})


async def put_segments(request: web.Request) -> web.Response:
    """Replace the dimensions (audited); users first exposed from now on are counted by them."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.SegmentsBody)
    reason = required_reason(body.reason)
    raw = [
        {k: v for k, v in msgspec.to_builtins(d).items() if v is not None} for d in body.dimensions
    ]
    try:
        dimensions = parse_dimensions(raw, "$.dimensions")
    except ConfigError as exc:
        raise RequestError(exc.where, exc.detail) from None
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.set_segments(c, dimensions), reason
    )
    return json_response(
        {"version": version, "diff": diff, "dimensions": dimensions_to_list(config.segments)}
    )
