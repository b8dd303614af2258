"""Connection deadlines in one gateway app on a loopback port: a request's headers must arrive
within the header deadline (a trickle of bytes does not extend it), an idle keep-alive
connection is closed, and past the cap the connection idle longest makes room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient

from gateway.http.app import build_app
from gateway.http.connections import LIMITS
from gateway.settings import Settings
from tests.http.conftest import GatewayTestServer
from tests.http.raw import read_response


@pytest.fixture
async def quick(settings: Settings) -> AsyncIterator[TestClient]:
    quick = replace(settings, header_timeout_s=0.5, keepalive_s=1.5, max_connections=16)
    async with TestClient(GatewayTestServer(build_app(quick))) as client:
        yield client


async def _open(client: TestClient) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert client.server.port is not None
    return await asyncio.open_connection("127.0.0.1", client.server.port)


async def test_headers_that_trickle_past_the_deadline_get_408(quick: TestClient) -> None:
    reader, writer = await _open(quick)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    head = b""
    for _ in range(50):  # a byte every 0.1 s, never a complete header, until an answer comes
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.1)
            break
        except TimeoutError:
            writer.write(b"X")
    assert head.startswith(b"HTTP/1.1 408"), head
    rest = await asyncio.wait_for(reader.read(), 5)  # the JSON error, then the close
    assert b"ABGATE_HEADER_TIMEOUT_S" in rest
    writer.close()


async def test_a_connection_that_sends_nothing_is_cut_and_an_idle_one_closed(
    quick: TestClient,
) -> None:
    silent_reader, silent = await _open(quick)
    assert (await asyncio.wait_for(read_response(silent_reader), 5)).status == 408
    reader, writer = await _open(quick)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await asyncio.wait_for(read_response(reader), 5)).status == 200
    # Kept alive, then idle past keepalive_s: closed without a word.
    assert await asyncio.wait_for(reader.read(), 5) == b""
    for w in (silent, writer):
        w.close()


async def test_past_the_cap_the_longest_idle_connection_makes_room(quick: TestClient) -> None:
    cap = quick.server.app[LIMITS].max_connections
    idle = [await _open(quick) for _ in range(cap)]
    await asyncio.sleep(0.05)
    reader, writer = await _open(quick)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(read_response(reader), 5)).status == 200
    first_reader, _ = idle[0]
    assert await asyncio.wait_for(first_reader.read(), 5) == b""  # the oldest, closed to make room
    for _, w in [*idle, (reader, writer)]:
        w.close()
