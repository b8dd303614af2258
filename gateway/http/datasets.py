"""Admin API for evaluation datasets (register: multipart, the file and a ``meta`` part; list;
read) and for the gates' policy (read; change, audited with the diff). Nothing deletes a
dataset."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Final

import orjson
from aiohttp import web
from redis.asyncio import Redis

from gateway.errors import ConfigError, Conflict, RequestError
from gateway.http.api_types import (
    DATASET_UPLOAD,
    DatasetMeta,
    GatePolicyBody,
    TrafficDatasetBody,
)
from gateway.http.auth import actor
from gateway.http.body import as_body, as_part, path_id, read_body_as, read_json
from gateway.http.errors import json_response
from gateway.http.state import GATEWAY
from gateway.http.uploads import read_upload
from gateway.models.card import parse_version
from gateway.models.gate_policy import RULES
from gateway.models.traffic_dataset import build as build_from_traffic
from gateway.records import ExposureRecord, OutcomeRecord, RecordError


async def list_datasets(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]

    async def read() -> dict[str, Any]:
        infos = await gw.registrar.datasets.all()
        return {"datasets": [i.to_json() for i in infos]}

    return json_response(await gw.redis_guard.read(read))


async def get_dataset(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    dataset_id = path_id(request, "dataset")

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
        fields = as_part(meta, DatasetMeta, "meta")
        dataset_id, description = fields.id, fields.description
        gw.redis_guard.check()
    except BaseException:
        datasets.files.discard(upload)
        raise
    try:
        info, new = await datasets.create(dataset_id, upload, description, who, reason)
    except ConfigError as exc:  # the file's content: a 400 naming the line (or row) and field
        raise RequestError(f"file: {exc.where}", exc.detail) from None
    return json_response(info.to_json() | {"created": new}, status=201 if new else 200)


# How many stream entries one build reads at most, per stream (a bound on its memory and time).
MAX_SCANNED: Final = 500_000
_PAGE: Final = 5_000


async def _scan(
    redis: Redis, stream: str, since_ms: int, keep: Callable[[bytes], bool]
) -> list[bytes]:
    """The entries' event bodies from ``since_ms`` on that ``keep`` wants, oldest first."""
    out: list[bytes] = []
    start, scanned = f"{since_ms}-0", 0
    while scanned < MAX_SCANNED:
        page: Any = await redis.xrange(stream, min=start, count=_PAGE)
        if not page:
            break
        scanned += len(page)
        out.extend(raw for _, f in page if (raw := f.get(b"e")) is not None and keep(raw))
        last = page[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"
        if len(page) < _PAGE:
            break
    return out


async def from_traffic(request: web.Request) -> web.Response:
    """A dataset from the searches whose exposures logged features (feature logging,
    ``ABGATE_FEATURE_LOG_SHARE``) in the last ``hours``, graded by the outcomes that name them
    (:mod:`gateway.models.traffic_dataset`), registered like an upload."""
    gw = request.app[GATEWAY]
    who = actor(request)
    spec = await read_body_as(request, gw, TrafficDatasetBody)
    dataset_id = parse_version(spec.id, "$.id")
    reason = spec.reason or "dataset built from traffic"
    gw.redis_guard.check()
    since_ms = int((time.time() - spec.hours * 3600.0) * 1000)
    exposures: list[ExposureRecord] = []
    outcomes: list[OutcomeRecord] = []
    for shard in gw.keys.all_shards:
        for raw in await _scan(gw.redis, shard.exposures, since_ms, lambda r: b'"features"' in r):
            with contextlib.suppress(RecordError, orjson.JSONDecodeError):
                exposures.append(ExposureRecord.from_json(raw))
        for raw in await _scan(gw.redis, shard.outcomes, since_ms, lambda r: True):
            with contextlib.suppress(RecordError, orjson.JSONDecodeError):
                outcomes.append(OutcomeRecord.from_json(raw))
    exposures.sort(key=lambda e: e.ts)
    built = build_from_traffic(
        exposures, outcomes, spec.max_searches, spec.with_unlabelled, spec.features
    )
    if built.searches == 0:
        raise Conflict(
            f"no logged search {'' if spec.with_unlabelled else 'with an outcome '}"
            + (f"carrying {list(built.features)} " if built.features else "")
            + f"in the last {spec.hours:g} h ({built.logged} searches logged their features, "
            f"{built.unlabelled} with no outcome, {built.other_features} lacking a feature): "
            "feature logging is ABGATE_FEATURE_LOG_SHARE (0, off, by default)"
        )
    datasets = gw.registrar.datasets
    upload = datasets.files.incoming()
    upload.write_bytes(built.jsonl)
    try:
        info, new = await datasets.create(dataset_id, upload, spec.description, who, reason)
    except ConfigError as exc:
        raise RequestError(f"built dataset: {exc.where}", exc.detail) from None
    return json_response(
        info.to_json() | {"created": new, "built": built.describe()}, status=201 if new else 200
    )


async def get_policy(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response(await gw.redis_guard.read(gw.registrar.policies.describe))


async def put_policy(request: web.Request) -> web.Response:
    """The fields to change (the others keep their values), validated; audited with the diff.
    Read by every gate run that starts afterwards."""
    gw = request.app[GATEWAY]
    who = actor(request)
    body = await read_json(request, gw)
    reason = as_body(body, GatePolicyBody).reason or ""
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
