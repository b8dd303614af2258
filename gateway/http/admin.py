"""Admin API: experiments, audit, models. Changes need the bearer token."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web

from gateway.config import routing_to_dict
from gateway.control.changes import patch_experiment
from gateway.errors import NotFound, RequestError
from gateway.http.errors import error_response, json_response, read_json
from gateway.http.state import GATEWAY, Gateway
from gateway.worker.aggregates import read_variant_stats

PATCH_FIELDS = ("weights", "coverage", "status", "reason")


def _authorised(request: web.Request, gw: Gateway) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip(), gw.settings.admin_token
    )


def _experiment_json(gw: Gateway, key: str) -> dict[str, Any]:
    for data in routing_to_dict(gw.router.config)["experiments"]:
        if data["key"] == key:
            return dict(data)
    raise NotFound(f"experiment {key!r} does not exist")


async def list_experiments(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response({"version": gw.router.version} | routing_to_dict(gw.router.config))


async def get_experiment(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    data = _experiment_json(gw, key)
    data["stats"] = await read_variant_stats(gw.redis, gw.keys, key)
    decision = await gw.redis.hget(gw.keys.decisions, key)
    data["last_evaluation"] = None if decision is None else orjson.loads(decision)
    return json_response(data)


async def patch(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    if not _authorised(request, gw):
        return error_response(
            401,
            "unauthorized",
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = request.match_info["key"]
    _experiment_json(gw, key)  # 404 before reading the body
    body = await read_json(request)
    if not isinstance(body, dict) or not body:
        raise RequestError("$", f"expected a non-empty object with any of {list(PATCH_FIELDS)}")
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise RequestError(f"$.{unknown[0]}", f"unknown field; allowed: {list(PATCH_FIELDS)}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise RequestError("$.reason", "expected a string of at most 500 characters")
    actor = request.headers.get("X-Abgate-Actor", "admin-api")[:64]
    changes = {k: v for k, v in body.items() if k != "reason"}
    version, _, diff = await gw.store.change(
        lambda config: patch_experiment(config, key, changes), actor=actor, reason=reason
    )
    if gw.watcher is not None:
        await gw.watcher.refresh()
    return json_response(
        {"version": version, "diff": diff, "experiment": _experiment_json(gw, key)}
    )


async def audit(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        count = int(request.query.get("count", "100"))
    except ValueError:
        raise RequestError(
            "?count", f"expected an integer, got {request.query['count']!r}"
        ) from None
    if not 1 <= count <= 10_000:
        raise RequestError("?count", f"must be in [1, 10000], got {count}")
    return json_response({"entries": await gw.store.audit_log(count)})


async def models(request: web.Request) -> web.Response:
    return json_response({"models": request.app[GATEWAY].registry.cards()})
