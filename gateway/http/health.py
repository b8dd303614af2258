"""Liveness, readiness and a small JSON metrics view."""

from __future__ import annotations

import os

from aiohttp import web

from gateway import metrics
from gateway.errors import NoProduction
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY


async def healthz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response(
        {
            "status": "ok",
            "pid": os.getpid(),
            "config_version": gw.router.version,
            "deployment": gw.settings.deployment,
        }
    )


async def readyz(request: web.Request) -> web.Response:
    """Ready once production is loaded here. A deployment without a production version yet is
    ready too: its admin API is how the first version is registered and set, so a load
    balancer (a Kubernetes Service) must send it traffic; its searches answer 503
    ``no_production`` until then, and ``searches`` and ``why`` here say so."""
    gw = request.app[GATEWAY]
    production = gw.router.config.production
    serving = production in gw.registry.versions
    body = {
        "ready": (serving or production is None) and not gw.draining,
        "searches": serving,
        "pid": os.getpid(),
        "config_version": gw.router.version,
        "production": production,
        "models": sorted(gw.registry.versions),
        "redis_ok": gw.sink.redis_ok,
    }
    if production is None:
        body["why"] = str(NoProduction())
    elif not serving:
        body["why"] = f"production {production!r} is not loaded in this process yet"
    return json_response(body, status=200 if body["ready"] else 503)


async def prometheus(request: web.Request) -> web.Response:
    """The Prometheus text format, summed over every process of this deployment."""
    body, content_type = metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def metrics_json(request: web.Request) -> web.Response:
    """This process's own counters as JSON (for a person at a terminal), read from the same
    registry as /metrics."""
    gw = request.app[GATEWAY]
    batchers = {m["version"]: m["batcher"] for m in gw.registry.describe()}
    return json_response(
        {
            "pid": os.getpid(),
            "config_version": gw.router.version,
            "counters": metrics.own_counts(),
            "sink": gw.sink.snapshot(),
            "batchers": batchers,
        }
    )
