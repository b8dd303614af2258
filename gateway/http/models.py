"""Admin API for the model registry: register (multipart: the ONNX file and its card),
list, read, retire, override a failed gate, re-run the gates."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.config import RoutingConfig
from gateway.config.uses import version_uses
from gateway.http import api_types as t
from gateway.http.api_types import MODEL_UPLOAD
from gateway.http.approval_gate import held
from gateway.http.auth import actor
from gateway.http.body import path_id, read_body_as, required_reason
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.http.uploads import read_upload
from gateway.models.card import ModelCard, parse_declaration


async def _loaded_by(gw: Gateway) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for beat in await gw.model_store.live_gateways():
        for version in beat.loaded:
            out.setdefault(version, []).append(beat.process)
    return out


def _card_json(
    card: ModelCard, loaded_by: dict[str, list[str]], config: RoutingConfig
) -> dict[str, Any]:
    """The card, the processes that have it loaded, and where it is in use (production, an
    experiment not over, a shadow: not to be retired)."""
    return card.to_json() | {
        "loaded_by": loaded_by.get(card.version, []),
        "in_use_by": list(version_uses(config, card.version)),
    }


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]

    async def read() -> dict[str, Any]:
        loaded_by = await _loaded_by(gw)
        return {
            "production": gw.router.config.production,
            "models": [
                _card_json(c, loaded_by, gw.router.config) for c in await gw.model_store.all()
            ],
            "this_process": gw.registry.describe(),
        }

    return json_response(await gw.redis_guard.read(read))


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    version = path_id(request, "version")

    async def read() -> dict[str, Any]:
        return _card_json(await gw.model_store.get(version), await _loaded_by(gw), gw.router.config)

    return json_response(await gw.redis_guard.read(read))


async def register(request: web.Request) -> web.Response:
    """``multipart/form-data`` with a ``card`` part (JSON) and a ``model`` part (the ONNX file)."""
    gw = request.app[GATEWAY]
    who = actor(request)
    upload = gw.artifacts.incoming()
    raw, reason = await read_upload(request, gw, MODEL_UPLOAD, upload, gw.settings.max_model_bytes)
    try:
        declaration = parse_declaration(raw)
    except BaseException:
        gw.artifacts.discard(upload)
        raise
    gw.redis_guard.check()
    card, new = await gw.registrar.register(declaration, upload, who, reason or "registered")
    if new or card.state == "gating":
        gw.follower.gate_in_background(card.version, who)
    return json_response(
        _card_json(card, await _loaded_by(gw), gw.router.config) | {"created": new},
        status=202 if new else 200,
    )


async def regate(request: web.Request) -> web.Response:
    """Run a version's gates again (its last results kept in ``gates_history``), on a named
    dataset or the one it would be gated on; audited. 409 while its gates run."""
    gw = request.app[GATEWAY]
    who = actor(request)
    version = path_id(request, "version")
    body = await read_body_as(request, gw, t.RegateBody, optional=True)
    reason = body.reason or ""
    dataset = body.dataset
    gw.redis_guard.check()
    card = await gw.registrar.regate(version, dataset, gw.router.config, who, reason)
    gw.follower.gate_in_background(card.version, who)
    return json_response(_card_json(card, await _loaded_by(gw), gw.router.config), status=202)


async def retire(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    who = actor(request)
    version = path_id(request, "version")
    body = await read_body_as(request, gw, t.OptionalReasonBody, optional=True)
    gw.redis_guard.check()
    card = await gw.registrar.retire(version, gw.router.config, who, body.reason or "")
    gw.follower.kick()
    return json_response(_card_json(card, await _loaded_by(gw), gw.router.config))


async def override(request: web.Request) -> web.Response:
    """An admin lets a version whose gates failed take traffic anyway; the reason is audited."""
    gw = request.app[GATEWAY]
    who = actor(request)
    version = path_id(request, "version")
    reason = required_reason((await read_body_as(request, gw, t.ReasonBody)).reason)
    card = await gw.redis_guard.read(lambda: gw.model_store.get(version))  # 404 naming it
    if card.state in ("gating", "passed"):  # refused now, never held
        await gw.registrar.override(version, who, reason)
    hold = await held(
        request,
        gw,
        change="model.override",
        target=version,
        params={"version": version},
        summary=f"let version {version!r} take traffic although its gates {card.state}",
        reason=reason,
        would=[{"path": f"models[{version!r}].override", "old": card.override, "new": "set"}],
        concerns=[f"model:{version}"],
    )
    if hold is not None:
        return hold
    gw.redis_guard.check()
    card = await gw.registrar.override(version, who, reason)
    gw.follower.kick()
    return json_response(_card_json(card, await _loaded_by(gw), gw.router.config))
