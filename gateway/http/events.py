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
from collections.abc import Sequence

from aiohttp import web

from gateway import metrics
from gateway.errors import NoProduction, RequestError
from gateway.http.body import read_json_bytes
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.records import OutcomeRecord
from gateway.router.assign import Router
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
    _count_by_arm(gw.router, outcomes)
    return json_response({"accepted": len(outcomes)}, status=202)


def _count_by_arm(router: Router, outcomes: Sequence[OutcomeRecord]) -> None:
    """Each event under the arms its user is routed to (``abgate_experiment_events_total``):
    assignment is deterministic and sticky, so that is the arm the user's searches were shown
    (the worker's attribution, which the statistics use, is in the experiment's results)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for o in outcomes:
        try:
            route = router.route(o.user_id)
        except NoProduction:
            return  # no production yet: no experiment runs
        for a in (*route.assignments, *(() if route.holdout is None else (route.holdout,))):
            counts[(a.experiment, a.variant, o.type)] += 1
    for labels, count in counts.items():
        metrics.EXPERIMENT_EVENTS.labels(*labels).inc(count)
