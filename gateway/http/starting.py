"""What a gateway process answers on its port while its services start (gateway.http.services):
alive (``/healthz`` 200), not ready (``/readyz`` 503 saying what it waits for: Redis, the
routing config, its model versions), every other request 503 with ``Retry-After``, and
``/metrics``. The full app takes over the port once every service has started."""

from __future__ import annotations

import os
import time

from aiohttp import web

from gateway import metrics
from gateway.http import health
from gateway.http.errors import error_body, json_response
from gateway.settings import Settings
from gateway.startup import Progress

RETRY_AFTER_S = "1"


def starting_app(settings: Settings, progress: Progress) -> web.Application:
    def state() -> dict[str, object]:
        return {
            "pid": os.getpid(),
            "deployment": settings.deployment,
            "phase": progress.phase,
            "why": progress.why,
            "for_s": round(time.monotonic() - progress.since, 1),
        }

    async def healthz(request: web.Request) -> web.Response:
        return json_response({"status": "starting", **state()})

    async def readyz(request: web.Request) -> web.Response:
        return json_response({"ready": False, "searches": False, **state()}, status=503)

    async def other(request: web.Request) -> web.Response:
        if request.path == "/v1/search":  # counted as every search answered 503 is
            metrics.SEARCHES.labels("unavailable").inc()
        elif request.path == "/v1/events":
            metrics.EVENT_REQUESTS.labels("unavailable").inc()
        return web.Response(
            body=error_body("starting", f"this gateway process is starting: {progress.why}"),
            status=503,
            content_type="application/json",
            headers={"Retry-After": RETRY_AFTER_S},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", health.prometheus)  # reads no service
    app.router.add_route("*", "/{tail:.*}", other)
    return app
