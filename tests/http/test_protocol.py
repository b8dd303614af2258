"""Requests the HTTP layer refuses before any handler: every answer is JSON with the right status."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient

from gateway import metrics
from gateway.http.server import MAX_HEADER_FIELD, MAX_HEADERS, MAX_REQUEST_LINE
from gateway.http.state import Gateway
from tests.http.raw import raw_request, request_bytes


def _port(client: TestClient) -> int:
    assert client.server.port is not None
    return client.server.port


@pytest.mark.parametrize(
    ("request_data", "status", "kind"),
    [
        (request_bytes("GET", "/v1/experiments?" + "a" * MAX_REQUEST_LINE), 414, "uri_too_long"),
        (
            request_bytes("GET", "/healthz", headers={"X-Big": "v" * (MAX_HEADER_FIELD + 10)}),
            431,
            "header_too_large",
        ),
        (
            request_bytes(
                "GET", "/healthz", headers={f"X-H{i}": "1" for i in range(MAX_HEADERS + 5)}
            ),
            431,
            "header_too_large",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "bad_request"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "bad_request"),
        (b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, "bad_request"),
    ],
    ids=["long-url", "long-header", "many-headers", "space-in-name", "tls-hello", "bad-length"],
)
async def test_parser_errors_are_json(
    client: TestClient, request_data: bytes, status: int, kind: str
) -> None:
    response = await raw_request("127.0.0.1", _port(client), request_data)
    assert response.status == status, response
    assert response.json()["error"]["type"] == kind


async def test_405_names_the_allowed_methods(client: TestClient) -> None:
    response = await client.delete("/v1/search")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await response.json())["error"]["message"] == "Method Not Allowed"


async def test_unknown_paths_are_json_404(client: TestClient) -> None:
    response = await client.get("/nope")
    assert response.status == 404 and (await response.json())["error"]["type"] == "http"


@pytest.mark.parametrize("token", ["é", "\u00ff\u00fe", "\udcff"])
async def test_a_non_ascii_bearer_token_is_a_401_not_a_500(
    client: TestClient, gateway: Gateway, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = request_bytes(
        "PATCH",
        "/v1/experiments/better",
        b'{"coverage": 0.5}',
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    before = metrics.own_counts()
    with caplog.at_level(logging.INFO):
        response = await raw_request("127.0.0.1", _port(client), data)
    assert response.status == 401
    assert response.json()["error"]["type"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Traceback" not in caplog.text
    after = metrics.own_counts()
    assert after["unauthorized"] == before["unauthorized"] + 1
    assert after["internal_errors"] == before["internal_errors"]


async def test_every_answer_echoes_its_request_id(client: TestClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert given.headers["X-Request-Id"] == "trace-42"
    fresh = await client.get("/healthz")
    made = fresh.headers["X-Request-Id"]
    assert len(made) == 32 and made != "trace-42"
    refused = await client.post("/v1/search", json={}, headers={"X-Request-Id": "bad id!"})
    assert refused.status == 400 and refused.headers["X-Request-Id"] not in ("bad id!", made)


@pytest.mark.parametrize(
    ("path", "page"),
    [("/dashboard", True), ("/docs", True), ("/static/dashboard.js", False),
     ("/healthz", False), ("/v1/experiments", False), ("/nope", False)],
)  # fmt: skip
async def test_every_answer_forbids_framing_sniffing_and_foreign_scripts(
    client: TestClient, path: str, page: bool
) -> None:
    response = await client.get(path)
    await response.read()
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    if page:
        assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    else:
        assert policy.startswith("default-src 'none'")
    if path.startswith("/v1/"):
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/dashboard", "/docs", "/static/dashboard.js"])
async def test_a_reload_keeps_the_policy_of_the_answer_kept(client: TestClient, path: str) -> None:
    """A conditional GET answered 304 names no policy: the browser would put a data policy on
    the page it kept, and block the page's own script on every reload."""
    first = await client.get(path)
    await first.read()
    again = await client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status == 304
    assert "Content-Security-Policy" not in again.headers
    assert again.headers["X-Frame-Options"] == "DENY"
