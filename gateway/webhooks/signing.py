"""Webhook signatures (pure): HMAC-SHA256 (RFC 2104) over ``"<t>.<body>"`` with the endpoint's
secret, sent as ``X-Abgate-Signature: t=<unix seconds>,v1=<hex>``.

The timestamp is inside the signed text, so a receiver that refuses a signature older than a
few minutes (:func:`verify`'s ``tolerance_s``) cannot be replayed an old delivery; the
delivery id (``X-Abgate-Delivery``) lets it drop a retry of one it already took. The scheme is
Stripe's, so receivers written for it need only the header's name changed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from gateway.errors import GatewayError

SIGNATURE_HEADER: Final = "X-Abgate-Signature"
EVENT_HEADER: Final = "X-Abgate-Event"
DELIVERY_HEADER: Final = "X-Abgate-Delivery"
SECRET_PREFIX: Final = "whsec_"
# A receiver's default window: a signature made longer ago (or later) than this is refused.
TOLERANCE_S: Final = 300.0


class SignatureError(GatewayError):
    """A delivery's signature is missing, malformed, stale or wrong."""


def new_secret() -> str:
    """A random signing secret: 32 bytes, URL-safe base64, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Abgate-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance_s: float = TOLERANCE_S
) -> int:
    """The header's timestamp, once ``header`` is shown to sign ``body`` under ``secret``
    within ``tolerance_s`` of ``now``; else :class:`SignatureError` saying what is wrong."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"{SIGNATURE_HEADER}: expected t=...,v1=..., got {header[:80]!r}")
        fields.setdefault(name, []).append(value)
    stamps, given = fields.get("t", []), fields.get("v1", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or not given:
        raise SignatureError(f"{SIGNATURE_HEADER}: expected t=...,v1=..., got {header[:80]!r}")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"{SIGNATURE_HEADER}: signed at {timestamp}, {abs(now - timestamp):.0f} s from now "
            f"(more than {tolerance_s:g} s)"
        )
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, v) for v in given):
        raise SignatureError(f"{SIGNATURE_HEADER}: no v1 signature matches the body")
    return timestamp
