"""Admin API for the model registry: register (multipart: the ONNX file and its card),
list, read, retire, override a failed gate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.errors import PayloadTooLarge, RequestError, RequestTimeout, UnsupportedMediaType
from gateway.http.auth import actor
from gateway.http.body import object_fields, read_json, read_optional_json, reason_field
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.models.card import ModelCard, parse_declaration, parse_version

MAX_CARD_BYTES: Final = 64 * 1024
CHUNK: Final = 1 << 16


async def _loaded_by(gw: Gateway) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for beat in await gw.model_store.live_gateways():
        for version in beat.loaded:
            out.setdefault(version, []).append(beat.process)
    return out


def _card_json(card: ModelCard, loaded_by: dict[str, list[str]]) -> dict[str, Any]:
    return card.to_json() | {"loaded_by": loaded_by.get(card.version, [])}


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]

    async def read() -> dict[str, Any]:
        loaded_by = await _loaded_by(gw)
        return {
            "production": gw.router.config.production,
            "models": [_card_json(c, loaded_by) for c in await gw.model_store.all()],
            "this_process": gw.registry.describe(),
        }

    return json_response(await gw.redis_guard.read(read))


async def get_model(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    version = parse_version(request.match_info["version"], "version")

    async def read() -> dict[str, Any]:
        return _card_json(await gw.model_store.get(version), await _loaded_by(gw))

    return json_response(await gw.redis_guard.read(read))


async def _read_bounded(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(str(part.name), f"over {limit} bytes")
    return bytes(data)


async def _upload(part: BodyPartReader, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as f:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge("model", f"the ONNX file is over {limit} bytes")
            f.write(chunk)
    if size == 0:
        raise RequestError("model", "the ONNX file is empty")


async def register(request: web.Request) -> web.Response:
    """``multipart/form-data`` with a ``card`` part (JSON) and a ``model`` part (the ONNX file)."""
    gw = request.app[GATEWAY]
    who = actor(request)
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "Content-Type",
            f"expected multipart/form-data with parts 'card' and 'model', got {request.content_type!r}",
        )
    upload = gw.artifacts.incoming()
    card_raw: bytes | None = None
    got_model = False
    try:
        async with asyncio.timeout(gw.settings.upload_timeout_s):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise RequestError("$", "nested multipart bodies are not accepted")
                if part.name == "card":
                    card_raw = await _read_bounded(part, MAX_CARD_BYTES)
                elif part.name == "model":
                    await _upload(part, upload, gw.settings.max_model_bytes)
                    got_model = True
                else:
                    raise RequestError(str(part.name), "unknown part; expected 'card' and 'model'")
    except TimeoutError:
        gw.artifacts.discard(upload)
        raise RequestTimeout(
            "model", f"upload not complete in {gw.settings.upload_timeout_s:g} s"
        ) from None
    except (ValueError, HttpProcessingError) as exc:  # a malformed multipart body (or part)
        gw.artifacts.discard(upload)
        raise RequestError("$", f"malformed multipart body: {exc}") from None
    except BaseException:
        gw.artifacts.discard(upload)
        raise
    try:
        if card_raw is None:
            raise RequestError("card", "the 'card' part (JSON) is missing")
        if not got_model:
            raise RequestError("model", "the 'model' part (the ONNX file) is missing")
        try:
            raw = orjson.loads(card_raw)
        except orjson.JSONDecodeError as exc:
            raise RequestError("card", f"not JSON: {exc}") from None
        reason = ""
        if isinstance(raw, dict) and "reason" in raw:
            reason = reason_field(raw, required=False)
            raw = {k: v for k, v in raw.items() if k != "reason"}
        declaration = parse_declaration(raw)
    except BaseException:
        gw.artifacts.discard(upload)
        raise
    gw.redis_guard.check()
    card, new = await gw.registrar.register(declaration, upload, who, reason or "registered")
    if new or card.state == "gating":
        gw.follower.gate_in_background(card.version, who)
    return json_response(
        _card_json(card, await _loaded_by(gw)) | {"created": new}, status=202 if new else 200
    )


async def retire(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    who = actor(request)
    version = parse_version(request.match_info["version"], "version")
    body = object_fields(await read_optional_json(request, gw), ("reason",))
    gw.redis_guard.check()
    card = await gw.registrar.retire(version, gw.router.config, who, reason_field(body, False))
    gw.follower.kick()
    return json_response(_card_json(card, await _loaded_by(gw)))


async def override(request: web.Request) -> web.Response:
    """An admin lets a version whose gates failed take traffic anyway; the reason is audited."""
    gw = request.app[GATEWAY]
    who = actor(request)
    version = parse_version(request.match_info["version"], "version")
    body = object_fields(await read_json(request, gw), ("reason",), ("reason",))
    reason = reason_field(body, required=True)
    gw.redis_guard.check()
    card = await gw.registrar.override(version, who, reason)
    gw.follower.kick()
    return json_response(_card_json(card, await _loaded_by(gw)))
