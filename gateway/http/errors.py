"""Maps the GatewayError tree to HTTP responses; the only place status codes are chosen."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import ConfigError, Conflict, InferenceError, NotFound, Overloaded, RequestError

log = logging.getLogger("abgate.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(
    status: int,
    kind: str,
    message: str,
    where: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if where is not None:
        error["where"] = where
    return json_response({"error": error}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(400, "bad_request", exc.detail, exc.where)
    except ConfigError as exc:
        return error_response(422, "invalid_config", str(exc), exc.where)
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except Conflict as exc:
        return error_response(409, "conflict", str(exc))
    except Overloaded as exc:
        retry = str(max(1, round(exc.retry_after_s)))
        return error_response(503, "overloaded", str(exc), headers={"Retry-After": retry})
    except InferenceError as exc:
        log.error("inference failed: %s", exc)
        return error_response(503, "inference_failed", str(exc), headers={"Retry-After": "1"})
    except web.HTTPRequestEntityTooLarge:
        limit = request.app._client_max_size
        return error_response(413, "too_large", f"request body larger than the {limit} byte limit")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, "http", exc.reason)
        raise


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; malformed JSON is a ``RequestError`` at ``$``."""
    raw = await request.read()
    if not raw:
        raise RequestError("$", "empty body; expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError("$", f"malformed JSON: {exc}") from None
