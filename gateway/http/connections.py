"""Connections with deadlines and a cap, so that no client can hold a process's sockets.

aiohttp has no deadline for a request's line and headers, and closes an idle keep-alive
connection only after its ``keepalive_timeout`` (an hour by default): a client that trickles
its headers, or connects and sends nothing, was held as long as it liked, and 1 100 of them
used up a process's 1 024 file descriptors, so that no search was served at all.

Here each connection:

- must complete a request line and headers within ``header_timeout_s`` of opening, or of the
  first byte of a later request on it; past it the client gets 408 and the connection is
  closed (a body has its own deadline, :func:`gateway.http.body.read_body`);
- is closed after ``keepalive_s`` idle between requests (aiohttp's own keep-alive timer);
- counts against ``max_connections`` per process: one more makes room by closing the
  connection idle for longest (waiting for a request, none in progress: first those that never
  completed one, oldest first, then keep-alive connections by their last request), else is
  answered 503 with ``Retry-After`` at once and closed. A flood of idle or trickling sockets
  thus evicts itself, never a request in progress, and a client's pooled connection that keeps
  sending requests outlasts it.

:func:`raise_descriptor_limit` lifts the process's soft descriptor limit to its hard limit, and
:func:`connection_cap` keeps the cap below it with room for Redis, models and files.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway import metrics
from gateway.http.errors import error_body

log = logging.getLogger("abgate.http")

# Descriptors a process needs besides its clients' connections: Redis, the listening socket,
# the spool, metrics files, model files while loading, the shadow worker's pipes.
RESERVED_FDS: Final = 128


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_connections: int


LIMITS: Final = web.AppKey("abgate.connection_limits", ConnectionLimits)


def raise_descriptor_limit() -> int:
    """Lift the soft limit on open descriptors to the hard one (where the OS allows); the
    soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, target, exc)
    return soft


def connection_cap(configured: int) -> int:
    """``configured``, lowered to leave :data:`RESERVED_FDS` below the soft descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(16, min(configured, soft - RESERVED_FDS))


def _canned(status: int, reason: str, kind: str, message: str, retry_after: bool) -> bytes:
    body = error_body(kind, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        + ("Retry-After: 1\r\n" if retry_after else "")
        + "\r\n"
    )
    return head.encode() + body


class DeadlineRequestHandler(RequestHandler):
    """aiohttp's handler, with a header deadline and the per-process cap."""

    limits: ConnectionLimits | None = None  # set on the class the server makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._last_active = 0.0

    @property
    def idle(self) -> bool:
        """Waiting for a request (none in progress): safe to close."""
        waiter = self._waiter
        return bool(self._header_deadline is not None or (waiter is not None and not waiter.done()))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._last_active = self._loop.time()
        self._arm_header_deadline()
        limits, manager = self.limits, self._manager
        if limits is None or manager is None:
            return
        open_now = len(manager._connections)
        if open_now <= limits.max_connections:
            return
        idle = [h for h in manager._connections if h is not self and _idle(h)]
        if idle:
            oldest = min(idle, key=_eviction_order)
            metrics.CONNECTIONS_CLOSED.labels("evicted").inc()
            assert isinstance(oldest, DeadlineRequestHandler)
            oldest._close_now(b"")
            return
        metrics.CONNECTIONS_CLOSED.labels("refused").inc()
        self._close_now(
            _canned(
                503,
                "Service Unavailable",
                "overloaded",
                f"{open_now - 1} connections open in this process "
                f"(ABGATE_MAX_CONNECTIONS); retry shortly",
                retry_after=True,
            )
        )

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if self._header_deadline is None and waiter is not None and not waiter.done():
            self._arm_header_deadline()  # the first byte of a new request on this connection
        before = self._request_count
        super().data_received(data)
        if self._request_count != before:  # a request line and headers are complete
            self._disarm_header_deadline()
            self._last_active = self._loop.time()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self.limits is None:
            return
        self._disarm_header_deadline()
        self._header_deadline = self._loop.call_later(
            self.limits.header_timeout_s, self._headers_too_slow
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        assert self.limits is not None
        metrics.CONNECTIONS_CLOSED.labels("header_timeout").inc()
        self._close_now(
            _canned(
                408,
                "Request Timeout",
                "request_timeout",
                f"no complete request line and headers within {self.limits.header_timeout_s:g} s "
                "(ABGATE_HEADER_TIMEOUT_S)",
                retry_after=False,
            )
        )

    def _close_now(self, answer: bytes) -> None:
        self._disarm_header_deadline()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if answer:
                transport.write(answer)
            transport.close()
        self.force_close()


def _idle(handler: RequestHandler) -> bool:
    return isinstance(handler, DeadlineRequestHandler) and handler.idle


def _eviction_order(handler: RequestHandler) -> tuple[bool, float]:
    """Connections that never completed a request first, then the longest since its last."""
    assert isinstance(handler, DeadlineRequestHandler)
    return handler._request_count > 0, handler._last_active
