"""POST /v1/events: clicks, add-to-carts and purchases, acknowledged once buffered."""

from __future__ import annotations

import time

from aiohttp import web

from gateway import metrics
from gateway.http.body import read_json_bytes
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.schema import parse_outcomes


async def events(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_json_bytes(request, gw)
    outcomes = parse_outcomes(body, now=time.time())  # all-or-nothing: validated before any is kept
    await gw.sink.put([(gw.keys.for_user(o.user_id).outcomes, o.to_json()) for o in outcomes])
    metrics.EVENTS_ACCEPTED.inc(len(outcomes))
    return json_response({"accepted": len(outcomes)}, status=202)
