"""Admin API for evaluation datasets (register: multipart, the file and a ``meta`` part; list;
read) and for the gates' policy (read; change, audited with the diff). Nothing deletes a
dataset."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import ConfigError, RequestError
from gateway.http.api_types import DATASET_UPLOAD
from gateway.http.auth import actor
from gateway.http.body import object_fields, read_json, reason_field
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.http.uploads import read_upload
from gateway.models.card import parse_version
from gateway.models.dataset_store import parse_description
from gateway.models.gate_policy import RULES


async def list_datasets(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]

    async def read() -> dict[str, Any]:
        infos = await gw.registrar.datasets.all()
        return {"datasets": [i.to_json() for i in infos]}

    return json_response(await gw.redis_guard.read(read))


async def get_dataset(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    dataset_id = parse_version(request.match_info["dataset"], "dataset")

    async def read() -> dict[str, Any]:
        return (await gw.registrar.datasets.get(dataset_id)).to_json()

    return json_response(await gw.redis_guard.read(read))


async def create(request: web.Request) -> web.Response:
    """``multipart/form-data``: a ``meta`` part (JSON: ``id``, ``description``, ``reason``) and
    a ``file`` part (JSON lines or Parquet). 201 when new; 200 when the id holds this content
    already; 409 when it holds other content."""
    gw = request.app[GATEWAY]
    who = actor(request)
    datasets = gw.registrar.datasets
    upload = datasets.files.incoming()
    meta, reason = await read_upload(
        request, gw, DATASET_UPLOAD, upload, gw.settings.max_dataset_bytes
    )
    try:
        fields = object_fields(meta, ("id", "description"), ("id",))
        dataset_id = parse_version(fields["id"], "meta.id")
        description = parse_description(fields.get("description", ""), "meta.description")
        gw.redis_guard.check()
    except BaseException:
        datasets.files.discard(upload)
        raise
    try:
        info, new = await datasets.create(dataset_id, upload, description, who, reason)
    except ConfigError as exc:  # the file's content: a 400 naming the line (or row) and field
        raise RequestError(f"file: {exc.where}", exc.detail) from None
    return json_response(info.to_json() | {"created": new}, status=201 if new else 200)


async def get_policy(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response(await gw.redis_guard.read(gw.registrar.policies.describe))


async def put_policy(request: web.Request) -> web.Response:
    """The fields to change (the others keep their values), validated; audited with the diff.
    Read by every gate run that starts afterwards."""
    gw = request.app[GATEWAY]
    who = actor(request)
    body = object_fields(await read_json(request, gw), (*RULES, "reason"))
    reason = reason_field(body, required=False)
    changes = {k: v for k, v in body.items() if k != "reason"}
    if not changes:
        raise RequestError("$", f"no field to change; the policy's fields: {list(RULES)}")
    gw.redis_guard.check()
    dataset = changes.get("dataset")
    if dataset is not None:
        dataset = parse_version(dataset, "$.dataset")
        if await gw.registrar.datasets.find(dataset) is None:
            raise ConfigError("$.dataset", f"dataset {dataset!r} is not registered")
    try:
        _, diff = await gw.registrar.policies.change(changes, who, reason)
    except ConfigError as exc:
        raise ConfigError(f"$.{exc.where}", exc.detail) from None
    return json_response(await gw.registrar.policies.describe() | {"diff": diff})
