"""Signatures against values computed independently: with the standard library here, and
with OpenSSL once (a golden value)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from gateway.settings import ROOT
from gateway.webhooks.signing import (
    SECRET_PREFIX,
    SignatureError,
    new_secret,
    signature,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"id":"1-0/production.moved","type":"production.moved"}'
T = 1_765_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == expected
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_signature_golden_value() -> None:
    # Computed with OpenSSL: printf '%s' '1765000000.{"a":1}' | openssl dgst -sha256 -hmac key
    assert signature("key", T, b'{"a":1}') == (
        "2f9a813eb49478cb8417187861100b2846429a47c1af7e23ce7e692bb6958efb"
    )


def test_verify_accepts_its_own_signature_and_returns_the_time() -> None:
    header = signature_header(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T + 10) == T


def test_verify_accepts_any_of_several_v1_signatures() -> None:
    # A receiver rolling its secret: one v1 of the old secret, one of the new.
    header = f"t={T},v1={'0' * 64},v1={signature(SECRET, T, BODY)}"
    assert verify(SECRET, header, BODY, now=T) == T


@pytest.mark.parametrize(
    ("header", "body", "now", "message"),
    [
        (None, BODY + b" ", T, "no v1 signature matches"),  # the body changed
        (None, BODY, T + 301, "more than 300 s"),  # replayed late
        (None, BODY, T - 301, "more than 300 s"),  # from the future
        ("v1=abc", BODY, T, "expected t=...,v1="),
        (f"t={T}", BODY, T, "expected t=...,v1="),
        ("garbage", BODY, T, "expected t=...,v1="),
        (f"t=x{T},v1=00", BODY, T, "expected t=...,v1="),
    ],
)
def test_verify_refuses(header: str | None, body: bytes, now: float, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, header or signature_header(SECRET, T, BODY), body, now=now)


def test_verify_refuses_another_secret() -> None:
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify("whsec_other", signature_header(SECRET, T, BODY), BODY, now=T)


def test_new_secrets_are_long_random_and_prefixed() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith(SECRET_PREFIX) and len(s) >= 40 for s in secrets)


def _documented_verify() -> Any:
    """The receiver's check that docs/operations.md#webhooks shows, run as it is written."""
    page = (ROOT / "docs" / "operations.md").read_text()
    section = page.split("## Webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/operations.md#webhooks", "exec"), namespace)
    return namespace["verify"]


def test_the_documented_receiver_check_takes_a_signature_and_refuses_a_forgery() -> None:
    documented = _documented_verify()
    now = int(time.time())
    documented(SECRET, signature_header(SECRET, now, BODY), BODY)
    for header, body in (
        (signature_header(SECRET, now, BODY), BODY + b"x"),
        (signature_header("whsec_other", now, BODY), BODY),
        (signature_header(SECRET, now - 3600, BODY), BODY),
        ("v1=00", BODY),
    ):
        with pytest.raises(ValueError):
            documented(SECRET, header, body)
