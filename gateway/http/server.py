"""The HTTP server around the app: protocol limits, JSON errors from the parser, bounded shutdown.

aiohttp answers requests it cannot parse (a URL or header over the limit, a
malformed request line) itself, before any middleware runs, in plain text and
always as 400, and logs a traceback for each. :class:`JsonErrorRequestHandler`
answers them as every other error is answered: JSON, with 414 for a request
line over the limit and 431 for header fields, and one log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.errors import GatewayError
from gateway.http.connections import LIMITS, ConnectionLimits, DeadlineRequestHandler
from gateway.http.errors import error_body
from gateway.http.services import PROGRESS, SETTINGS
from gateway.http.starting import starting_app
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.http")

# The two limits differ by design: aiohttp's LineTooLong names only the limit it hit,
# and that is how a long URL (414) is told from a long header field (431).
MAX_REQUEST_LINE: Final = 8190
MAX_HEADER_FIELD: Final = 8192
MAX_HEADERS: Final = 100
# After an early answer (413, 408) the rest of a body is read and dropped for at most this long.
LINGER_S: Final = 1.0
SHUTDOWN_TIMEOUT_S: Final = 5.0

HANDLER_ARGS: Final[dict[str, Any]] = {
    "auto_decompress": False,  # inflated in gateway.http.body, bounded
    "max_line_size": MAX_REQUEST_LINE,
    "max_field_size": MAX_HEADER_FIELD,
    "max_headers": MAX_HEADERS,
    "lingering_time": LINGER_S,
}


def parse_error_status(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, error type, message) for a request aiohttp's parser refused."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return 414, "uri_too_long", f"request line longer than {MAX_REQUEST_LINE} bytes"
        return 431, "header_too_large", f"a header field is longer than {MAX_HEADER_FIELD} bytes"
    if isinstance(exc, BadHttpMessage) and "too many headers" in str(exc).lower():
        return 431, "header_too_large", f"more than {MAX_HEADERS} header fields"
    message = exc.message if isinstance(exc, BadHttpMessage) else "malformed HTTP request"
    return 400, "bad_request", message


class JsonErrorRequestHandler(DeadlineRequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error response")
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("unhandled error for %s", request.remote, exc_info=exc)
            kind, text = "internal", "internal error; it has been logged"
        else:
            status, kind, text = parse_error_status(exc)
            log.info("refused unparsable request from %s: %s", request.remote, text)
        response = web.Response(
            body=error_body(kind, text), status=status, content_type="application/json"
        )
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    limits: ConnectionLimits | None = None

    def __call__(self) -> RequestHandler:
        handler = JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.limits = self.limits
        return handler


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections answer parse errors with :class:`JsonErrorRequestHandler`
    and keep the app's connection limits (:mod:`gateway.http.connections`)."""

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()
        server = JsonErrorServer(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **base._kwargs,
        )
        server.limits = self._app.get(LIMITS)
        return server


async def other_deployment(host: str, port: int, mine: str) -> str | None:
    """What already answers on ``host:port`` if it is not a gateway of deployment ``mine``
    (None when nothing listens, or one of ours does)."""
    target = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target, port), 1.0)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(f"GET /healthz HTTP/1.0\r\nHost: {target}\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(65536), 2.0)
    except (OSError, TimeoutError):
        return f"something on port {port} that does not answer /healthz"
    finally:
        writer.close()
    _, _, body = raw.partition(b"\r\n\r\n")
    try:
        health = json.loads(body)
    except ValueError:
        return f"something on port {port} that is not an abgate gateway"
    if not isinstance(health, dict):
        return f"something on port {port} that is not an abgate gateway"
    if health.get("deployment") != mine:
        return (
            f"another abgate deployment ({health.get('deployment', 'unknown')}, "
            f"pid {health.get('pid', '?')}) on port {port}"
        )
    return None


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve ``app`` on ``host:port`` (SO_REUSEPORT) until ``stop`` is set, then drain and close.

    SO_REUSEPORT lets the processes of one deployment share the port; a process refuses it
    when a gateway of another deployment (or anything else) already answers there. While the
    app's services start (waiting for Redis, loading models) the port answers from
    :mod:`gateway.http.starting`; the app's own listener opens beside it once they have, and
    the starting one closes."""
    settings, progress = app[SETTINGS], app[PROGRESS]
    other = await other_deployment(host, port, settings.deployment)
    if other is not None:
        raise GatewayError(f"port {port} is taken by {other}; refusing to share it")
    starting = web.AppRunner(starting_app(settings, progress), access_log=None)
    await starting.setup()
    runner = GatewayRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    try:
        await web.TCPSite(starting, host, port, reuse_port=True).start()
        setup = asyncio.ensure_future(runner.setup())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((setup, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not setup.done():  # stopped while starting
            await cancel_and_wait([setup])
            return
        setup.result()  # a service that could not start: its error
        await web.TCPSite(runner, host, port, reuse_port=True).start()
        await starting.cleanup()
        log.info("serving on %s:%d", host, port)
        await stop.wait()
    finally:
        await starting.cleanup()
        await runner.cleanup()
