"""Hostile bodies: compression bombs, corrupt encodings, slow senders, other media types."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from dataclasses import replace

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.errors import PayloadTooLarge, RequestError, UnsupportedMediaType
from gateway.http.app import build_app
from gateway.http.body import inflate
from gateway.http.server import GatewayRunner
from gateway.http.state import Gateway
from gateway.redis_server import free_port
from gateway.settings import Settings
from tests.http.raw import raw_request, read_response, request_bytes

SEARCH = orjson.dumps({"user_id": "u1", "query": "shoes", "candidates": [1, 2, 3]})
EVENT = {"event_id": "e1", "type": "click", "user_id": "u1", "item_id": 1}


def event(gateway: Gateway) -> bytes:
    """A click on a search this gateway could have answered (its id signed for u1)."""
    return orjson.dumps(EVENT | {"search_id": gateway.search_ids.issue("u1")})


def _host_port(client: TestClient) -> tuple[str, int]:
    assert client.server.port is not None
    return "127.0.0.1", client.server.port


def test_inflate_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))  # 50 MiB of zeros in ~50 KB
    with pytest.raises(PayloadTooLarge, match="inflated body larger than the 4096 byte limit"):
        inflate(bomb, "gzip", 4096)
    assert inflate(gzip.compress(SEARCH), "gzip", 4096) == SEARCH
    assert inflate(zlib.compress(SEARCH), "deflate", 4096) == SEARCH
    raw = zlib.compressobj(wbits=-15)
    assert inflate(raw.compress(SEARCH) + raw.flush(), "deflate", 4096) == SEARCH
    for bad in (gzip.compress(SEARCH)[:-5], b"not gzip at all", gzip.compress(SEARCH) + b"x"):
        with pytest.raises(RequestError, match="corrupt"):
            inflate(bad, "gzip", 4096)
    with pytest.raises(UnsupportedMediaType, match="'br' is not supported"):
        inflate(b"..", "br", 4096)


async def test_a_gzip_bomb_is_refused_once_the_limit_is_inflated(
    client: TestClient, gateway: Gateway
) -> None:
    bomb = gzip.compress(b" " * (60 << 20))  # under the 64 KiB body limit, 60 MiB inflated
    assert len(bomb) < gateway.settings.max_body_bytes
    response = await client.post(
        "/v1/search",
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 413
    error = (await response.json())["error"]
    assert "inflated body larger than" in error["message"]
    assert gateway.sink.count("accepted") == 0


async def test_brotli_and_unknown_encodings_are_refused_unread(
    client: TestClient, gateway: Gateway
) -> None:
    for encoding in ("br", "zstd", "gzip, br"):
        response = await client.post(
            "/v1/search",
            data=b"\x1b\xff\xff",
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
        )
        assert response.status == 415, encoding
        error = (await response.json())["error"]
        assert error["where"] == "Content-Encoding" and "not supported" in error["message"]
    assert gateway.sink.count("accepted") == 0


async def test_compressed_bodies_within_the_limit_are_served(
    client: TestClient, gateway: Gateway
) -> None:
    response = await client.post(
        "/v1/events",
        data=gzip.compress(event(gateway)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 202, await response.text()
    assert gateway.sink.count("accepted") == 1


async def test_a_corrupt_gzip_body_is_a_json_400(client: TestClient, gateway: Gateway) -> None:
    response = await client.post(
        "/v1/events",
        data=b"\x1f\x8b\x08\x00garbage",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 400
    assert "corrupt gzip body" in (await response.json())["error"]["message"]
    assert gateway.sink.count("accepted") == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_bodies_that_are_not_json_are_refused(
    client: TestClient, gateway: Gateway, content_type: str | None
) -> None:
    # A page on any site can post text/plain or a form cross-site without a preflight.
    host, port = _host_port(client)
    headers = {"Content-Type": content_type} if content_type else {}
    for path, body in (("/v1/events", event(gateway)), ("/v1/search", SEARCH)):
        response = await raw_request(host, port, request_bytes("POST", path, body, headers))
        assert response.status == 415, (path, response)
        error = response.json()["error"]
        assert error["where"] == "Content-Type" and "application/json" in error["message"]
    assert gateway.sink.count("accepted") == 0
    ok = await client.post(
        "/v1/events",
        data=event(gateway),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status == 202


@pytest.fixture
def slow_settings(settings: Settings) -> Settings:
    return replace(settings, body_timeout_s=0.3)


async def test_a_body_that_never_comes_is_answered_408_and_the_connection_closed(
    slow_settings: Settings,
) -> None:
    runner = GatewayRunner(build_app(slow_settings))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        # Headers announce 100 bytes; one byte arrives, then nothing.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = request_bytes(
            "POST", "/v1/events", headers={"Content-Type": "application/json"}
        ).replace(b"Content-Length: 0", b"Content-Length: 100")
        writer.write(head + b"{")
        await writer.drain()
        response = await asyncio.wait_for(read_response(reader), 10.0)
        assert response.status == 408
        assert "did not arrive within 0.3 s" in response.json()["error"]["message"]
        assert await asyncio.wait_for(reader.read(), 10.0) == b""  # closed by the gateway
        writer.close()
    finally:
        await runner.cleanup()


async def test_shutdown_cuts_a_slow_body_short(settings: Settings) -> None:
    runner = GatewayRunner(build_app(replace(settings, body_timeout_s=120.0)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = request_bytes("POST", "/v1/search", headers={"Content-Type": "application/json"})
    writer.write(head.replace(b"Content-Length: 0", b"Content-Length: 100") + b"{")
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is now waiting for the body
    cleanup = asyncio.create_task(runner.cleanup())
    response = await asyncio.wait_for(read_response(reader), 10.0)
    await asyncio.wait_for(cleanup, 10.0)
    writer.close()
    # Without the drain the handler would wait for the body until the shutdown timeout.
    assert response.status == 503
    assert "shutting down" in response.json()["error"]["message"]
