"""Admin API: experiments, audit, models. Changes need the bearer token."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from gateway.config import routing_to_dict
from gateway.control.actors import http_actor
from gateway.control.changes import patch_experiment
from gateway.errors import NotFound, RequestError, Unavailable
from gateway.http.auth import require_admin
from gateway.http.body import read_json
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.worker.aggregates import read_variant_stats

PATCH_FIELDS = ("weights", "coverage", "status", "reason")
MAX_REASON = 500
MAX_AUDIT_COUNT = 10_000


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
    data["stats"] = await gw.redis_guard.read(lambda: read_variant_stats(gw.redis, gw.keys, key))
    decision = await gw.redis_guard.read(lambda: gw.redis.hget(gw.keys.decisions, key))
    data["last_evaluation"] = None if decision is None else orjson.loads(decision)
    return json_response(data)


def _parse_patch(body: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(body, dict) or not body:
        raise RequestError("$", f"expected a non-empty object with any of {list(PATCH_FIELDS)}")
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise RequestError(f"$.{unknown[0]}", f"unknown field; allowed: {list(PATCH_FIELDS)}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise RequestError("$.reason", f"expected a string of at most {MAX_REASON} characters")
    return {k: v for k, v in body.items() if k != "reason"}, reason


async def patch(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    require_admin(request, gw)
    actor = http_actor(request.headers.get("X-Abgate-Actor"))
    key = request.match_info["key"]
    _experiment_json(gw, key)  # 404 before reading the body
    changes, reason = _parse_patch(await read_json(request, gw))
    gw.redis_guard.check()
    try:
        version, _, diff = await gw.store.change(
            lambda config: patch_experiment(config, key, changes), actor=actor, reason=reason
        )
    except (RedisError, OSError) as exc:
        gw.redis_guard.failed()
        raise Unavailable(
            f"redis unavailable ({type(exc).__name__}): the change may not have been applied; "
            "read the experiment or /v1/audit before retrying"
        ) from None
    if gw.watcher is not None:
        await gw.watcher.refresh()
    return json_response(
        {"version": version, "diff": diff, "experiment": _experiment_json(gw, key)}
    )


async def audit(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    raw = request.query.get("count", "100")
    try:
        count = int(raw)
    except ValueError:
        raise RequestError("?count", f"expected an integer, got {raw[:40]!r}") from None
    if not 1 <= count <= MAX_AUDIT_COUNT:
        raise RequestError("?count", f"must be in [1, {MAX_AUDIT_COUNT}], got {count}")
    entries = await gw.redis_guard.read(lambda: gw.store.audit_log(count))
    return json_response({"entries": entries})


async def models(request: web.Request) -> web.Response:
    return json_response({"models": request.app[GATEWAY].registry.cards()})
