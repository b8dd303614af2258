"""The webhooks' stored records, typed (msgspec): an endpoint, a delivery waiting to be sent,
and one attempt of the delivery log."""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Struct

from gateway.errors import RequestError

# The labels of abgate_webhook_deliveries_total: what became of each attempt. retried: it
# failed and is tried again later; failed: it failed the last time (given up); dropped: its
# endpoint was removed before it could be sent.
AttemptOutcome = Literal["delivered", "retried", "failed", "dropped"]
MAX_URL: Final = 2000


class Endpoint(Struct, frozen=True, kw_only=True):
    name: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: float
    created_by: str

    def view(self) -> dict[str, Any]:
        """What a reader is shown: everything but the secret."""
        return {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes | str) -> Endpoint:
        return msgspec.json.decode(raw, type=cls)


class Delivery(Struct, frozen=True, kw_only=True):
    """One event for one endpoint, kept until delivered or given up."""

    id: str
    endpoint: str
    event_id: str
    type: str
    ts: float  # the event's time
    body: str  # the exact JSON sent (and signed) on every attempt
    attempts: int = 0

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes | str) -> Delivery:
        return msgspec.json.decode(raw, type=cls)


class Attempt(Struct, frozen=True, kw_only=True):
    """One try of a delivery, as the delivery log keeps it."""

    delivery: str
    event_id: str
    type: str
    attempt: int
    ts: float  # when it was made (unix seconds)
    outcome: AttemptOutcome
    status: int | None = None  # the receiver's HTTP status, if it answered
    error: str | None = None  # why it failed without an answer (refused, timed out, ...)
    latency_ms: float | None = None
    next_retry_at: float | None = None  # unix seconds, when retried

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes | str) -> Attempt:
        return msgspec.json.decode(raw, type=cls)


def check_url(url: str, where: str = "$.url") -> str:
    """An endpoint's address: http or https with a host (loopback allowed), no credentials in
    it (they would show in every listing) and no fragment."""
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        raise RequestError(where, f"expected a URL without spaces, got {url[:80]!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RequestError(where, f"{exc}, got {url[:80]!r}") from None
    if parts.scheme not in ("http", "https"):
        raise RequestError(where, f"expected an http:// or https:// URL, got {url[:80]!r}")
    if not parts.hostname:
        raise RequestError(where, f"expected a host, got {url[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise RequestError(
            where, "credentials in the URL would show in every listing; use the signature"
        )
    if parts.fragment:
        raise RequestError(where, f"expected no #fragment, got {url[:80]!r}")
    if port == 0:
        raise RequestError(where, f"expected a port from 1 to 65535, got {url[:80]!r}")
    return url


def url_origin(url: str) -> str:
    """What the audit trail names of an endpoint's URL: its scheme, host and port (its path or
    query may carry the receiver's own secret, as many chat services' webhook URLs do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
