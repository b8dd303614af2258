"""Admin API for webhooks: register (the secret generated and shown once, if none is given),
list (never a secret), remove, and one endpoint's delivery log. Registration and removal are
audited; the worker's dispatcher sends the deliveries (gateway.webhooks.dispatcher)."""

from __future__ import annotations

import time
from typing import Final

from aiohttp import web

from gateway.errors import RequestError
from gateway.http import api_types as t
from gateway.http.auth import actor
from gateway.http.body import read_body_as
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.webhooks.events import EVENT_TYPES, EVERY
from gateway.webhooks.records import Endpoint, check_url, url_origin
from gateway.webhooks.signing import new_secret
from gateway.webhooks.store import LOG_SIZE, WebhookStore

DEFAULT_COUNT: Final = 50


def _store(gw: Gateway) -> WebhookStore:
    return WebhookStore(gw.redis, gw.keys)


async def list_webhooks(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    endpoints = await gw.redis_guard.read(_store(gw).all)
    return json_response(
        {"webhooks": [e.view() for e in endpoints], "event_types": list(EVENT_TYPES)}
    )


async def create_webhook(request: web.Request) -> web.Response:
    """``{"name", "url", "events", "secret"?, "reason"?}`` → the endpoint (and its generated
    secret, once)."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.WebhookBody)
    url = check_url(body.url)
    events = (EVERY,) if EVERY in body.events else tuple(dict.fromkeys(body.events))
    secret = body.secret or new_secret()
    who = actor(request)
    endpoint = Endpoint(
        name=body.name,
        url=url,
        events=events,
        secret=secret,
        created_at=time.time(),
        created_by=who,
    )
    gw.redis_guard.check()
    origin = url_origin(url)
    reason = f"webhook {body.name} ({origin}) registered: " + (body.reason or "no reason given")
    await _store(gw).register(endpoint, who, reason)
    shown = {} if body.secret else {"secret": secret}
    return json_response(endpoint.view() | shown, status=201)


async def remove_webhook(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    body = await read_body_as(request, gw, t.OptionalReasonBody, optional=True)
    gw.redis_guard.check()
    reason = f"webhook {name} removed: " + (body.reason or "no reason given")
    endpoint = await _store(gw).remove(name, actor(request), reason)
    return json_response(endpoint.view() | {"removed": True})


async def deliveries(request: web.Request) -> web.Response:
    """One endpoint's deliveries still waiting and its latest attempts, newest first."""
    gw = request.app[GATEWAY]
    name = request.match_info["name"]
    count = _count(request.query.get("count"))
    store = _store(gw)

    async def read() -> dict[str, object]:
        await store.get(name)  # 404 for a name never registered (or removed)
        waiting = await store.waiting(name)
        attempts = await store.attempts(name, count)
        return {
            "webhook": name,
            "waiting": [
                {"delivery": d.id, "event_id": d.event_id, "type": d.type, "attempts": d.attempts}
                for d in sorted(waiting, key=lambda d: d.ts)
            ],
            "attempts": [{f: getattr(a, f) for f in a.__struct_fields__} for a in attempts],
        }

    return json_response(await gw.redis_guard.read(read))


def _count(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or not 1 <= int(raw) <= LOG_SIZE:
        raise RequestError("?count", f"expected an integer from 1 to {LOG_SIZE}, got {raw[:40]!r}")
    return int(raw)
