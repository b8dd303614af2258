"""POST /v1/events: clicks, add-to-carts and purchases, acknowledged once buffered.

A click or add-to-cart must name a search this deployment answered for the event's user: its
search id is signed for that user (:mod:`gateway.search_ids`), checked here without Redis. A
search id of another user's, or one made up, is refused (400) with the rest of its request.
Whether the item was on that search's page is known to the worker, which keeps the page (and
dead-letters a click or add-to-cart on an item that was not on it). A purchase may name its
search the same way, or come without one (at checkout): the worker then counts it for the
user's arm in each running experiment that exposed the user within its attribution window
(:mod:`gateway.worker.aggregates`)."""

from __future__ import annotations

import time
from collections import Counter

from aiohttp import web

from gateway import metrics
from gateway.errors import RequestError
from gateway.http.body import read_json_bytes
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.schema import parse_outcomes


async def events(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_json_bytes(request, gw)
    parsed = parse_outcomes(body, now=time.time())  # all-or-nothing: validated before any is kept
    for at, outcome in parsed:
        if outcome.search_id and not gw.search_ids.check(outcome.search_id, outcome.user_id):
            raise RequestError(
                f"{at}.search_id",
                f"not a search this deployment answered for user_id {outcome.user_id!r}: "
                "send the search_id that this user's search was answered with",
            )
    outcomes = [outcome for _, outcome in parsed]
    await gw.sink.put([(gw.keys.for_user(o.user_id).outcomes, o.to_json()) for o in outcomes])
    for kind, count in Counter(o.type for o in outcomes).items():
        metrics.EVENTS.labels(kind).inc(count)
    return json_response({"accepted": len(outcomes)}, status=202)
