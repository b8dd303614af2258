"""Maps the GatewayError tree to HTTP responses; the only place status codes are chosen.

Every error is JSON, ``{"error": {"type", "message", "where"?}}``, whatever
raised it: a rule of ours, aiohttp's router (404, 405 with ``Allow``), its body
limit (413), Redis (503 with ``Retry-After``), or a defect (500, logged once
with its traceback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from gateway import metrics
from gateway.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InferenceError,
    NoProduction,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.http.state import GATEWAY
from gateway.logs import REQUEST_ID, request_id

log = logging.getLogger("abgate.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers of aiohttp's own HTTP exceptions that belong in the JSON answer too.
_PASSED_HEADERS: Final = ("Allow", "Retry-After", "WWW-Authenticate")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_body(kind: str, message: str, where: str | None = None) -> bytes:
    error: dict[str, Any] = {"type": kind, "message": message}
    if where is not None:
        error["where"] = where
    return orjson.dumps({"error": error})


def error_response(
    status: int,
    kind: str,
    message: str,
    where: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=error_body(kind, message, where),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _retry(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


def _request_error(exc: RequestError) -> web.Response:
    status, kind = 400, "bad_request"
    if isinstance(exc, PayloadTooLarge):
        status, kind = 413, "too_large"
    elif isinstance(exc, UnsupportedMediaType):
        status, kind = 415, "unsupported_media_type"
    elif isinstance(exc, RequestTimeout):
        response = error_response(408, "request_timeout", exc.detail, exc.where)
        response.force_close()  # the rest of a body that never came must not be waited for
        return response
    return error_response(status, kind, exc.detail, exc.where)


def _to_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, RequestError):
        return _request_error(exc)
    if isinstance(exc, ConfigError):
        return error_response(422, "invalid_config", str(exc), exc.where)
    if isinstance(exc, Unauthorized):
        metrics.ERRORS.labels("unauthorized").inc()  # by reason: abgate_refused_total
        return error_response(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, Forbidden):
        return error_response(403, "forbidden", str(exc))
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", str(exc))
    if isinstance(exc, NoProduction):
        request[OUTCOME] = "no_production"
        return error_response(503, "no_production", str(exc), headers=_retry(exc.retry_after_s))
    if isinstance(exc, Overloaded):
        metrics.ERRORS.labels("shed").inc()
        request[OUTCOME] = "shed"
        return error_response(503, "overloaded", str(exc), headers=_retry(exc.retry_after_s))
    if isinstance(exc, Unavailable):
        metrics.ERRORS.labels("unavailable").inc()
        request[OUTCOME] = "unavailable"
        response = error_response(503, "unavailable", str(exc), headers=_retry(exc.retry_after_s))
        if request.app[GATEWAY].draining:
            response.force_close()
        return response
    if isinstance(exc, RedisError | ConnectionError | TimeoutError):
        metrics.ERRORS.labels("unavailable").inc()
        request[OUTCOME] = "unavailable"
        log.warning("%s %s: redis unavailable: %s", request.method, request.path, exc)
        return error_response(
            503, "unavailable", f"redis unavailable ({type(exc).__name__})", headers=_retry(1)
        )
    if isinstance(exc, InferenceError):
        metrics.ERRORS.labels("inference_failed").inc()
        log.error("inference failed: %s", exc)
        return error_response(503, "inference_failed", str(exc), headers=_retry(1))
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = request.app[GATEWAY].settings.max_body_bytes
        return error_response(413, "too_large", f"request body larger than the {limit} byte limit")
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        headers = {h: exc.headers[h] for h in _PASSED_HEADERS if h in exc.headers}
        return error_response(exc.status, "http", exc.reason, headers=headers)
    metrics.ERRORS.labels("internal").inc()
    log.exception("%s %s: unhandled error", request.method, request.path)
    return error_response(500, "internal", "internal error; it has been logged")


# What a search or an event request came to, for abgate_searches_total and
# abgate_event_requests_total: set by the handler (fallback) or the error mapping (shed,
# unavailable); else by status.
OUTCOME: Final = web.RequestKey("abgate.outcome", str)
SERVED: Final = web.RequestKey("abgate.served", str)  # the version that answered a search
_COUNTED: Final = {"/v1/search": metrics.SEARCHES, "/v1/events": metrics.EVENT_REQUESTS}


def _count(request: web.Request, status: int, started: float) -> None:
    counter = _COUNTED.get(request.path)
    if counter is None:
        return
    if status < 400:
        outcome = request.get(OUTCOME, "ok")
    elif status < 500:
        outcome = "bad_request"
    else:
        outcome = request.get(OUTCOME, "error")
    counter.labels(outcome).inc()
    if counter is metrics.SEARCHES:
        metrics.SEARCH_SECONDS.labels(request.get(SERVED, metrics.NO_VERSION)).observe(
            time.perf_counter() - started
        )


REQUEST_ID_HEADER: Final = "X-Request-Id"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer JSON on error, counted, and carrying the request's id (echoed in
    ``X-Request-Id``, and on every log line written for it)."""
    started = time.perf_counter()
    rid = request_id(request.headers.get(REQUEST_ID_HEADER))
    token = REQUEST_ID.set(rid)
    try:
        response = await _answer(request, handler)
    finally:
        REQUEST_ID.reset(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = rid
    _count(request, response.status, started)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _to_response(request, exc)
    except Exception as exc:  # every error becomes JSON; the 500 branch logs the traceback
        response = _to_response(request, exc)
    if 400 <= response.status < 500:
        metrics.ERRORS.labels("bad_request").inc()
    return response
