"""POST /v1/search: route the user, rank the candidates with that version, record the exposure."""

from __future__ import annotations

import time
import uuid

import numpy as np
from aiohttp import web

from gateway.http.body import read_json
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.records import AssignmentRecord, ExposureRecord
from gateway.schema import parse_search


async def search(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_json(request, gw)
    query = parse_search(body)
    router = gw.router  # one snapshot for the whole request
    route = router.route(query.user_id)
    model = gw.registry.get(route.model_version)
    scores = await model.rank(query.query, query.candidates, query.features, query.context)
    top = np.argsort(-scores, kind="stable")[: query.k]
    search_id = uuid.uuid4().hex
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
        model_version=route.model_version,
        assignments=assignments,
        items=tuple(query.candidates[i] for i in top),
    )
    gw.sink.put_many([(gw.keys.exposures, exposure.to_json())])
    gw.counters.searches += 1
    return json_response(
        {
            "search_id": search_id,
            "results": results,
            "assignments": [a.to_json() for a in assignments],
        }
    )
