"""Admin API for changes: the experiment lifecycle, production and freeze. Each is one
audited compare-and-set change of the routing config (:mod:`gateway.control.changes`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from gateway.config import RoutingConfig, experiment_to_dict
from gateway.control import changes
from gateway.errors import Conflict, NotFound, RequestError, Unavailable
from gateway.http import api_types as t
from gateway.http.approval_gate import held
from gateway.http.auth import actor
from gateway.http.body import as_body, read_body_as, read_json, required_reason
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway


async def apply_change(
    request: web.Request,
    gw: Gateway,
    compute: Callable[[RoutingConfig], RoutingConfig],
    reason: str,
) -> tuple[int, RoutingConfig, list[dict[str, Any]]]:
    """One audited change by the caller; refused if it routes to a version not ready everywhere."""
    return await apply_as(gw, actor(request), compute, reason)


async def apply_as(
    gw: Gateway,
    who: str,
    compute: Callable[[RoutingConfig], RoutingConfig],
    reason: str,
    audit_extra: dict[str, Any] | None = None,
) -> tuple[int, RoutingConfig, list[dict[str, Any]]]:
    """:func:`apply_change` by ``who`` (an approved change: its requester, ``audit_extra``
    naming the approval)."""
    gw.redis_guard.check()
    try:
        result = await gw.store.change(
            compute, actor=who, reason=reason, check=gw.routing_check, audit_extra=audit_extra
        )
    except (RedisError, OSError) as exc:
        gw.redis_guard.failed()
        raise Unavailable(
            f"redis unavailable ({type(exc).__name__}): the change may not have been applied; "
            "read the experiment or /v1/audit before retrying"
        ) from None
    if gw.watcher is not None:
        await gw.watcher.refresh()
    return result


def experiment_view(config: RoutingConfig, key: str) -> dict[str, Any]:
    """One experiment's stored form, or 404."""
    try:
        return experiment_to_dict(config.experiment(key))
    except KeyError:
        raise NotFound(f"experiment {key!r} does not exist") from None


def _routing(config: RoutingConfig) -> dict[str, Any]:
    return {"production": config.production, "frozen": config.frozen}


async def create(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_json(request, gw)
    # The type checks every field (400 naming it); the parser, the rules across fields (422).
    # A status or outcome is left to the change, whose refusal says how an experiment starts.
    lifecycle = ("status", "outcome")
    if isinstance(body, dict):
        typed = as_body({k: v for k, v in body.items() if k not in lifecycle}, t.ExperimentBody)
    else:
        typed = as_body(body, t.ExperimentBody)
    reason = typed.reason or "created"
    data = {k: v for k, v in body.items() if k != "reason"}
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.create_experiment(c, data), reason
    )
    key = str(data.get("key"))
    return json_response(
        {"version": version, "diff": diff, "experiment": experiment_view(config, key)}, status=201
    )


async def patch(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    experiment_view(gw.router.config, key)  # 404 before reading the body
    body = await read_json(request, gw)
    if not isinstance(body, dict) or not body:
        raise RequestError("$", "expected a non-empty object of fields to change")
    # A field the lifecycle owns is left to the change, whose refusal names the verb to use.
    owned = set(changes.LIFECYCLE_FIELDS)
    edit = as_body({k: v for k, v in body.items() if k not in owned}, t.ExperimentEdit)
    reason = edit.reason or "edited"
    edits = {k: v for k, v in body.items() if k != "reason"}
    current = gw.router.config.experiment(key)
    if current.live and isinstance(edits.get("coverage"), int | float):
        hold = await held(
            request,
            gw,
            change="experiment.edit",
            target=key,
            params={"key": key, "edits": edits},
            summary=f"raise the coverage of experiment {key!r} from {current.coverage:g} to "
            f"{edits['coverage']:g}",
            reason=reason,
            compute=lambda c: changes.edit_experiment(c, key, edits, time.time()),
            coverage=(current.coverage, float(edits["coverage"])),
        )
        if hold is not None:
            return hold
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.edit_experiment(c, key, edits, time.time()), reason
    )
    return json_response(
        {"version": version, "diff": diff, "experiment": experiment_view(config, key)}
    )


def _verb(
    name: str,
    compute: Callable[[RoutingConfig, str, Any], RoutingConfig],
    reason_required: bool = False,
    body_type: type | None = None,
) -> Callable[[web.Request], Any]:
    """A lifecycle verb's handler; its body is ``body_type`` (default: a reason, required or
    not), given to ``compute`` decoded."""
    of: Any = body_type or (t.ReasonBody if reason_required else t.OptionalReasonBody)

    async def handler(request: web.Request) -> web.Response:
        gw = request.app[GATEWAY]
        key = request.match_info["key"]
        experiment_view(gw.router.config, key)
        body = await read_body_as(request, gw, of, optional=True)
        reason = required_reason(body.reason) if reason_required else body.reason or name
        version, config, diff = await apply_change(
            request, gw, lambda c: compute(c, key, body), reason
        )
        return json_response(
            {"version": version, "diff": diff, "experiment": experiment_view(config, key)}
            | _routing(config)
        )

    return handler


async def promote(request: web.Request) -> web.Response:
    """Make an arm's version production, concluding the experiment (held for a second admin
    when the approval policy covers production moves)."""
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    experiment_view(gw.router.config, key)
    body = await read_body_as(request, gw, t.PromoteBody)
    reason = required_reason(body.reason)
    variant = body.variant
    hold = await held(
        request,
        gw,
        change="experiment.promote",
        target=key,
        params={"key": key, "variant": variant},
        summary=f"promote {variant or 'the treatment'} of experiment {key!r} to production",
        reason=reason,
        compute=lambda c: changes.promote(c, key, variant),
    )
    if hold is not None:
        return hold
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.promote(c, key, variant), reason
    )
    return json_response(
        {"version": version, "diff": diff, "experiment": experiment_view(config, key)}
        | _routing(config)
    )


async def start(request: web.Request) -> web.Response:
    """Start a draft once its versions read only features that recent searches carry (409
    naming the others); ``ignore_missing_features`` with a reason starts it anyway (the
    searches lacking them are served by production and count against the version)."""
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    experiment_view(gw.router.config, key)
    body = await read_body_as(request, gw, t.StartBody, optional=True)
    ignore = body.ignore_missing_features
    reason = required_reason(body.reason) if ignore else body.reason or "started"
    await check_startable(gw, key, ignore)
    draft = gw.router.config.experiment(key)
    reach = max((draft.coverage, *(step.coverage for step in draft.ramp)))
    hold = await held(
        request,
        gw,
        change="experiment.start",
        target=key,
        params={"key": key, "ignore_missing_features": ignore},
        summary=f"start experiment {key!r} at coverage {reach:g}",
        reason=reason,
        compute=lambda c: changes.start(c, key, time.time()),
        coverage=(0.0, reach),
    )
    if hold is not None:
        return hold
    version, config, diff = await apply_change(
        request, gw, lambda c: changes.start(c, key, time.time()), reason
    )
    return json_response(
        {"version": version, "diff": diff, "experiment": experiment_view(config, key)}
        | _routing(config)
    )


async def check_startable(gw: Gateway, key: str, ignore_missing_features: bool) -> None:
    """Refuse (409) a start whose versions' gates did not run on its dataset or that read
    features recent searches lack (unless ``ignore_missing_features``)."""
    await _check_dataset(gw, gw.router.config, key)
    if not ignore_missing_features:
        await _check_features(gw, gw.router.config, key)


async def _check_dataset(gw: Gateway, config: RoutingConfig, key: str) -> None:
    """An experiment that names a dataset starts once each treatment's latest gates ran on it
    and passed (or an admin overrode them)."""
    experiment = config.experiment(key)
    if experiment.dataset is None:
        return
    await gw.registrar.datasets.get(experiment.dataset)  # 404 naming it when unknown
    for variant in experiment.variants[1:]:
        card = await gw.model_store.find(variant.model_version)
        if card is None:
            continue  # the routing check names it
        ran_on = ((card.gates or {}).get("dataset") or {}).get("source")
        if ran_on != experiment.dataset or not card.usable:
            raise Conflict(
                f"experiment {key!r} names dataset {experiment.dataset!r}: version "
                f"{card.version!r} "
                + (
                    "is being gated; try again once its gates have run"
                    if card.state == "gating"
                    else f"failed its gates on it ({card.state})"
                    if ran_on == experiment.dataset
                    else f"was gated on {ran_on!r}"
                )
                + f"; re-gate it: abgate models regate {card.version} --dataset "
                f"{experiment.dataset} (POST /v1/models/{card.version}/regate)"
            )


async def _check_features(gw: Gateway, config: RoutingConfig, key: str) -> None:
    versions = dict.fromkeys(v.model_version for v in config.experiment(key).variants)
    problems = await gw.features_problems(versions)
    if problems:
        raise Conflict(
            f"experiment {key!r}: {'; '.join(problems)}. Searches lacking them would be served "
            "by production and count against the version. Send the features, or start with "
            '{"ignore_missing_features": true, "reason": ...}'
        )


stop = _verb("stopped", lambda c, k, _b: changes.stop(c, k), reason_required=True)
pause = _verb("paused", lambda c, k, _b: changes.pause(c, k, time.time()), reason_required=True)
resume = _verb("resumed", lambda c, k, _b: changes.resume(c, k, time.time()), reason_required=True)
archive = _verb("archived", lambda c, k, _b: changes.archive(c, k))


async def _routing_change(
    request: web.Request,
    gw: Gateway,
    compute: Callable[[RoutingConfig], RoutingConfig],
    reason: str,
) -> web.Response:
    """A change of production or of the freeze, answered with the routing it leaves."""
    version, config, diff = await apply_change(request, gw, compute, reason)
    return json_response({"version": version, "diff": diff} | _routing(config))


async def get_production(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    history = await gw.redis_guard.read(lambda: gw.store.production_history())
    return json_response(_routing(gw.router.config) | {"history": history})


async def put_production(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.ProductionBody)
    version_id = body.version
    reason = required_reason(body.reason)
    hold = await held(
        request,
        gw,
        change="production.set",
        target="production",
        params={"version": version_id},
        summary=f"set production to {version_id!r}",
        reason=reason,
        compute=lambda c: changes.set_production(c, version_id),
    )
    if hold is not None:
        return hold
    return await _routing_change(
        request, gw, lambda c: changes.set_production(c, version_id), reason
    )


async def rollback_production(request: web.Request) -> web.Response:
    """Back to an earlier production in one call: ``to`` (any version that was production
    before), else the one before the current one."""
    gw = request.app[GATEWAY]
    body = await read_body_as(request, gw, t.RollbackBody)
    reason = required_reason(body.reason)
    to = body.to
    history = await gw.redis_guard.read(lambda: gw.store.production_history())
    current = gw.router.config.production
    target = changes.rollback_target(history, current, to)
    compute = rollback_change(current, target)
    hold = await held(
        request,
        gw,
        change="production.rollback",
        target="production",
        params={"from": current, "to": target},
        summary=f"roll production back from {current!r} to {target!r}",
        reason=f"rollback from {current} to {target}: {reason}",
        compute=compute,
    )
    if hold is not None:
        return hold
    return await _routing_change(
        request, gw, compute, f"rollback from {current} to {target}: {reason}"
    )


def rollback_change(current: str | None, target: str) -> Callable[[RoutingConfig], RoutingConfig]:
    """Production back from ``current`` to ``target``; refused if it moved meanwhile."""

    def compute(config: RoutingConfig) -> RoutingConfig:
        if config.production != current:
            raise Conflict(
                f"production moved from {current!r} to {config.production!r} meanwhile; "
                "read GET /v1/production and try again"
            )
        return changes.set_production(config, target)

    return compute


async def freeze(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    reason = required_reason((await read_body_as(request, gw, t.ReasonBody)).reason)
    return await _routing_change(
        request, gw, lambda c: changes.freeze(c, time.time()), f"freeze: {reason}"
    )


async def unfreeze(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    reason = (await read_body_as(request, gw, t.OptionalReasonBody, optional=True)).reason
    return await _routing_change(
        request,
        gw,
        lambda c: changes.unfreeze(c, time.time()),
        f"unfreeze: {reason}" if reason else "unfreeze",
    )
