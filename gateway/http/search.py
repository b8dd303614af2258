"""POST /v1/search: route the user, rank the candidates with that version, record the exposure.

A treatment's scoring that fails or passes its deadline (``ABGATE_SCORE_TIMEOUT_MS``) is
counted against it (:mod:`gateway.ops`) and the search is served by production instead, so a
broken candidate costs the shopper nothing while the worker rolls it back. The user stays in
the arm they were assigned to (intention to treat); the exposure names the version that served.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
from aiohttp import web

from gateway.config import phase_stats_id
from gateway.errors import InferenceError, Overloaded
from gateway.http.body import read_json_bytes
from gateway.http.errors import OUTCOME, SERVED, json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.inference.batch import Float32Array
from gateway.ops.shadow import ShadowJob, sampled
from gateway.records import AssignmentRecord, ExposureRecord
from gateway.router.assign import Route
from gateway.schema import SearchRequest, parse_search


async def _rank(gw: Gateway, version: str, query: SearchRequest) -> Float32Array:
    model = gw.registry.get(version)
    try:
        async with asyncio.timeout(gw.settings.score_timeout_s):
            return await model.rank(query.query, query.candidates, query.features, query.context)
    except TimeoutError:
        raise InferenceError(
            f"model {version}: no scores within {gw.settings.score_timeout_s * 1000:g} ms"
        ) from None


async def _score(
    gw: Gateway, route: Route, production: str, query: SearchRequest
) -> tuple[str, Float32Array]:
    """(the version that served, its scores); a failing treatment falls back to production."""
    if not route.assignments:
        return route.model_version, await _rank(gw, route.model_version, query)
    a = route.assignments[0]
    stats_id = phase_stats_id(a.experiment, a.phase)
    started = time.perf_counter()
    try:
        scores = await _rank(gw, route.model_version, query)
    except (InferenceError, Overloaded):
        gw.ops.failed(stats_id, a.variant)
        if route.model_version == production:
            raise
        return production, await _rank(gw, production, query)
    gw.ops.scored(stats_id, a.variant, (time.perf_counter() - started) * 1000.0)
    return route.model_version, scores


async def search(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_json_bytes(request, gw)
    query = parse_search(body)
    router = gw.router  # one snapshot for the whole request
    route = router.route(query.user_id)
    served, scores = await _score(gw, route, router.config.production, query)
    request[SERVED] = served
    if served != route.model_version:
        request[OUTCOME] = "fallback"
    top = np.argsort(-scores, kind="stable")[: query.k]
    search_id = uuid.uuid4().hex
    if not route.assignments and router.config.shadows:
        for shadow in router.config.shadows:  # off the response path: offered, never awaited
            if sampled(search_id, shadow.share):
                gw.shadow.offer(
                    ShadowJob(
                        shadow.version,
                        query.query,
                        query.candidates,
                        query.features,
                        query.context,
                        scores,
                    )
                )
    results = [{"item_id": query.candidates[i], "score": float(scores[i])} for i in top]
    assignments = tuple(
        AssignmentRecord(a.experiment, a.variant, a.model_version, a.phase)
        for a in route.assignments
    )
    exposure = ExposureRecord(
        event_id=search_id,
        search_id=search_id,
        user_id=query.user_id,
        ts=time.time(),
        config_version=router.version,
        model_version=served,
        assignments=assignments,
        items=tuple(query.candidates[i] for i in top),
    )
    gw.sink.put_many([(gw.keys.exposures, exposure.to_json())])
    return json_response(
        {
            "search_id": search_id,
            "results": results,
            "assignments": [a.to_json() for a in assignments],
        }
    )
