"""Admin API for the deployment's holdout (:mod:`gateway.config.holdout`): read it with its
report, begin one, end it. Beginning and ending are audited changes of the routing config,
checked as a production move is (the baseline registered, through its gates, loaded in every
gateway process)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import msgspec
from aiohttp import web

from gateway.config import RoutingConfig
from gateway.control.holdout import begin_holdout, end_holdout
from gateway.errors import ConfigError
from gateway.holdout_report import read_report
from gateway.http import api_types as t
from gateway.http.body import read_body_as, required_reason
from gateway.http.errors import json_response
from gateway.http.lifecycle import apply_change
from gateway.http.state import GATEWAY, Gateway


def holdout_view(config: RoutingConfig) -> dict[str, Any] | None:
    h = config.holdout
    if h is None:
        return None
    return asdict(h) | {"stats_id": h.stats_id, "active": h.active}


async def get_holdout(request: web.Request) -> web.Response:
    """The holdout (null: none) and its latest report (null until the worker has made one)."""
    gw = request.app[GATEWAY]
    config = gw.router.config
    report = None
    if config.holdout is not None:
        stats_id = config.holdout.stats_id
        report = await gw.redis_guard.read(lambda: read_report(gw.redis, gw.keys, stats_id))
    return json_response(
        {
            "holdout": holdout_view(config),
            "report": None if report is None else msgspec.to_builtins(report),
        }
    )


async def put_holdout(request: web.Request) -> web.Response:
    """Begin a holdout: ``share`` of the users on ``version`` from now on."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.HoldoutBody)
    reason = required_reason(body.reason)
    await _check_version(gw, body.version)
    now = time.time()

    def compute(config: RoutingConfig) -> RoutingConfig:
        return begin_holdout(
            config,
            body.version,
            body.share,
            now,
            window_s=body.window_s,
            seed=body.seed,
            attribution_window_s=body.attribution_window_s,
        )

    version, config, diff = await apply_change(
        request, gw, compute, f"holdout of {body.share:g} on {body.version}: {reason}"
    )
    return json_response({"version": version, "diff": diff, "holdout": holdout_view(config)})


async def delete_holdout(request: web.Request) -> web.Response:
    """End the holdout now: its users are routed as everyone else; its report stays."""
    gw = request.app[GATEWAY]
    reason = required_reason((await read_body_as(request, gw, t.ReasonBody)).reason)
    version, config, diff = await apply_change(
        request, gw, lambda c: end_holdout(c, time.time()), f"holdout ended: {reason}"
    )
    return json_response({"version": version, "diff": diff, "holdout": holdout_view(config)})


async def _check_version(gw: Gateway, version: str) -> None:
    """The baseline must be a registered version that may take traffic (422 naming the
    field); whether every gateway has it loaded is the change's own check (409)."""
    if await gw.model_store.find(version) is None:
        raise ConfigError("version", f"model version {version!r} is not registered")
    try:
        await gw.registrar.require_usable(version)
    except ConfigError as exc:
        raise ConfigError("version", f"model version {version!r} {exc.detail}") from None
