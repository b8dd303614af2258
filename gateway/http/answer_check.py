"""Every 2xx JSON answer checked against the type that documents it (a route's ``response``,
:mod:`gateway.http.api_answers`), on its way out: the bytes a client gets are decoded with the
type, so the OpenAPI document cannot say what is not sent. A mismatch is a defect: a 500,
logged with what differs, and found by the tests (every handler test goes through here).

The search answer is the one left out: it is the hot path, built by hand for speed, and its
tests decode it with its type instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import msgspec
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Decoders = dict[tuple[str, str], msgspec.json.Decoder[Any]]

ANSWER_TYPES: Final = web.AppKey("abgate.answer_types", dict)
# (method, path) of the answers not checked here (see above).
UNCHECKED: Final = frozenset({("POST", "/v1/search")})


class AnswerMismatch(Exception):
    """A handler's answer does not match its documented type."""


def answer_decoders(routes: Iterable[Any]) -> Decoders:
    """(method, path) -> a decoder of the route's answer type, for the routes that have one;
    (method, path, 202) -> the held answer's, for a change the approval policy may hold."""
    routes = list(routes)
    decoders: dict[Any, msgspec.json.Decoder[Any]] = {
        (r.method, r.path): msgspec.json.Decoder(r.response)
        for r in routes
        if r.response is not None and (r.method, r.path) not in UNCHECKED
    }
    for r in routes:
        if getattr(r, "held", None) is not None:
            decoders[(r.method, r.path, 202)] = msgspec.json.Decoder(r.held)
    return decoders


def check_answer(decoder: msgspec.json.Decoder[Any], body: bytes, what: str) -> None:
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise AnswerMismatch(f"{what}: the answer does not match its type: {exc}") from None


@web.middleware
async def answer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not 200 <= response.status < 300 or not isinstance(response, web.Response):
        return response
    resource = request.match_info.route.resource
    if resource is None or not isinstance(response.body, bytes):
        return response
    types = request.app[ANSWER_TYPES]
    decoder = types.get((request.method, resource.canonical, response.status)) or types.get(
        (request.method, resource.canonical)
    )
    if decoder is not None:
        check_answer(decoder, response.body, f"{request.method} {resource.canonical}")
    return response
