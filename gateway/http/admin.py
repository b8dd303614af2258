"""Admin API reads: experiments with their statistics, the audit trail, models."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.config import experiment_to_dict, routing_to_dict
from gateway.errors import NotFound, RequestError
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.records import EvaluationRecord
from gateway.variant_stats import read_variant_stats

MAX_AUDIT_COUNT = 10_000


def _experiment_json(gw: Gateway, key: str) -> dict[str, Any]:
    try:
        return experiment_to_dict(gw.router.config.experiment(key))
    except KeyError:
        raise NotFound(f"experiment {key!r} does not exist") from None


async def list_experiments(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response({"version": gw.router.version} | routing_to_dict(gw.router.config))


async def get_experiment(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    data = _experiment_json(gw, key)
    data["stats"] = await gw.redis_guard.read(lambda: read_variant_stats(gw.redis, gw.keys, key))
    decision = await gw.redis_guard.read(lambda: gw.redis.hget(gw.keys.decisions, key))
    data["last_evaluation"] = (
        None if decision is None else EvaluationRecord.from_json(decision).to_json()
    )
    return json_response(data)


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
