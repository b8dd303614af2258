"""Every 2xx JSON answer is checked against the type the OpenAPI document shows for it: an
answer that strays from its type is a 500 (a defect, logged), never sent as documented."""

from __future__ import annotations

import logging

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from gateway.http import api_answers as a
from gateway.http.answer_check import ANSWER_TYPES, UNCHECKED, answer_decoders
from gateway.http.routes import ROUTES
from tests.tokens import auth


class _Other(msgspec.Struct):
    name: str
    colour: str  # whoami sends no colour


async def test_an_answer_that_strays_from_its_type_is_a_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    ok = await client.get("/v1/whoami", headers=auth("vera"))
    assert ok.status == 200
    msgspec.json.decode(await ok.read(), type=a.Whoami)
    decoders = client.server.app[ANSWER_TYPES]
    decoders[("GET", "/v1/whoami")] = msgspec.json.Decoder(_Other)
    with caplog.at_level(logging.ERROR, "abgate.http"):
        strayed = await client.get("/v1/whoami", headers=auth("vera"))
    assert strayed.status == 500
    assert (await strayed.json())["error"]["type"] == "internal"
    assert "GET /v1/whoami: the answer does not match its type" in caplog.text
    assert "colour" in caplog.text


def test_every_json_route_but_search_has_its_answer_checked() -> None:
    decoders = answer_decoders(ROUTES)
    for route in ROUTES:
        key = (route.method, route.path)
        if route.response is None:
            assert route.path in ("/metrics", "/v1/experiments/{key}/chart.svg"), key
        else:
            assert (key in decoders) == (key not in UNCHECKED), key
    assert {("POST", "/v1/search")} == UNCHECKED  # the hot path: its tests decode it instead
