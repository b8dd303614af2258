"""The deployment's segment dimensions (GET/PUT /v1/segments) and an experiment's results
broken down by them (GET /v1/experiments/{key}/segments)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from gateway.catalogue.metrics import BY_NAME as METRICS_BY_NAME
from gateway.config.segments import dimensions_to_list, parse_dimensions
from gateway.control import changes
from gateway.errors import ConfigError, Conflict, NotFound, RequestError
from gateway.http import api_types as t
from gateway.http.body import read_body_as, required_reason
from gateway.http.errors import json_response
from gateway.http.lifecycle import apply_change
from gateway.http.state import GATEWAY
from gateway.records import EvaluationRecord
from gateway.segment_report import segment_results
from gateway.variant_stats import read_stats_and_segments


async def get_segments(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response({"dimensions": dimensions_to_list(gw.router.config.segments)})


async def put_segments(request: web.Request) -> web.Response:
    """Replace the dimensions (audited); users first exposed from now on are counted by them."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.SegmentsBody)
    reason = required_reason(body.reason)
    raw = [
        {k: v for k, v in msgspec.to_builtins(d).items() if v is not None} for d in body.dimensions
    ]
    try:
        dimensions = parse_dimensions(raw, "$.dimensions")
    except ConfigError as exc:
        raise RequestError(exc.where, exc.detail) from None
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.set_segments(c, dimensions), reason
    )
    return json_response(
        {"version": version, "diff": diff, "dimensions": dimensions_to_list(config.segments)}
    )


async def experiment_segments(request: web.Request) -> web.Response:
    """The current phase's results on ``metric`` (default: the success metric) in every segment
    of ``dimension`` (default: every dimension), with their alerts, computed now from the sums
    at the last evaluation's N* (every catalogue metric can be drilled down)."""
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    config = gw.router.config
    if not config.has(key):
        raise NotFound(f"experiment {key!r} does not exist")
    experiment = config.experiment(key)
    if experiment.bandit is not None or experiment.interleaved:
        raise Conflict(
            f"experiment {key!r} is a {experiment.kind}: its arms are not compared by segment"
        )
    a = experiment.analysis
    metric = request.query.get("metric", a.primary_metric)
    if metric not in METRICS_BY_NAME:
        raise RequestError("metric", f"must be one of {sorted(METRICS_BY_NAME)}, got {metric!r}")
    dimension = request.query.get("dimension") or None
    sid = experiment.stats_id

    async def read() -> tuple[Any, Any, Any]:
        stats, segments = await read_stats_and_segments(gw.redis, gw.keys, sid)
        raw = await gw.redis.hget(gw.keys.decisions, sid)
        return stats, segments, raw

    stats, segments, raw = await gw.redis_guard.read(read)
    known = sorted({d for arm in segments.values() for d, _ in arm})
    if dimension is not None and dimension not in known:
        raise RequestError(
            "dimension", f"no segments of {dimension!r} in this phase; it has {known}"
        )
    tuning = None if raw is None else EvaluationRecord.from_json(raw).tuning_units
    tested = [v for v in experiment.variants if v.weight > 0 or v is experiment.control]
    results, alerts = segment_results(
        [(v.name, v.weight) for v in tested],
        stats,
        segments,
        metric,
        a.alpha,
        tuning,
        a.min_units_per_arm,
        dimension,
    )
    return json_response(
        {
            "experiment": key,
            "phase": experiment.phase,
            "metric": metric,
            "dimensions": known,
            "segments": msgspec.to_builtins(results),
            "alerts": msgspec.to_builtins(alerts),
        }
    )
