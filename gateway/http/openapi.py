"""The OpenAPI 3.1 document, built from the route table and the msgspec types of its request
and answer bodies (the ones the handlers decode with and their answers are checked against),
and the browsable docs page (Swagger UI, vendored under ``gateway/static/swagger-ui``: nothing is
fetched from the internet at run time)."""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import msgspec
from aiohttp import web

from gateway.http import api_types
from gateway.http.api_examples import EXAMPLES
from gateway.http.errors import json_response
from gateway.http.routes import ROUTES, Route
from gateway.http.static import STATIC

_REF: Final = "#/components/schemas/{name}"
_PARAM: Final = re.compile(r"\{(\w+)\}")
_PARAM_SCHEMAS: Final = {
    "key": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
    "version": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
    "dataset": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
    "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$"},
    "approval": {"type": "string", "pattern": r"^[A-Za-z0-9]{1,64}$"},
}
# The answers every route may give, besides its success.
_ERRORS: Final = {
    "400": "A field is wrong: `where` names it",
    "404": "No such route, experiment, version, dataset or token",
    "413": "The body is over the size limit",
    "415": "Not JSON (or not multipart for an upload), or an unsupported Content-Encoding",
    "503": "Redis is down, a queue is full or the process is draining: retry (Retry-After)",
}
_GUARDED: Final = {
    "401": "No token, or not a known one",
    "403": "The token's role is too low for this route",
}
_CHANGES: Final = {
    "409": "The change breaks a lifecycle rule or raced with another",
    "422": "The resulting routing config, model card or gate policy is invalid: `where` names the field",
}
# The success statuses: 200 unless listed. A registration answers 200 when the id already
# holds that very content (nothing new was made).
_STATUS: Final = {
    ("POST", "/v1/events"): ("202",),
    ("POST", "/v1/experiments"): ("201",),
    ("POST", "/v1/tokens"): ("201",),
    ("POST", "/v1/webhooks"): ("201",),
    ("POST", "/v1/models"): ("202", "200"),
    ("POST", "/v1/datasets"): ("201", "200"),
    ("POST", "/v1/datasets/from-traffic"): ("201", "200"),
    ("POST", "/v1/models/{version}/regate"): ("202",),
}
_SUCCESS: Final = {"200": "OK", "201": "Created", "202": "Accepted"}
# Answers that are not JSON.
_NOT_JSON: Final = {
    "/metrics": ("Prometheus text format", "text/plain"),
    "/v1/experiments/{key}/chart.svg": ("An SVG image", "image/svg+xml"),
}


def _version() -> str:
    try:
        return version("abgate")
    except PackageNotFoundError:
        return "0"


def _operation(route: Route, schemas: dict[type, dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.method.lower()
        + re.sub(r"[^A-Za-z0-9]+", "_", route.path.replace("{", "by_")).rstrip("_"),
        "summary": route.summary,
        "tags": [route.tag],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _PARAM_SCHEMAS[name]}
        for name in _PARAM.findall(route.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in route.query
    ]
    if params:
        op["parameters"] = params
    if isinstance(route.body, api_types.Upload):
        form = route.body
        json_part: dict[str, Any] = {"type": "string", "description": form.json_description}
        if form.json_type is not None:
            json_part = {"description": form.json_description} | schemas[form.json_type]
        op["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [form.json_part, form.file_part],
                        "properties": {
                            form.json_part: json_part,
                            form.file_part: {
                                "type": "string",
                                "contentMediaType": "application/octet-stream",
                                "description": form.file_description,
                            },
                        },
                    }
                }
            },
        }
        if form.json_type is not None:
            media = op["requestBody"]["content"]["multipart/form-data"]
            media["encoding"] = {form.json_part: {"contentType": "application/json"}}
    elif route.body is not None:
        op["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": schemas[route.body]}},
        }
    if (route.method, route.path) in EXAMPLES:
        media = op["requestBody"]["content"]["application/json"]
        media["examples"] = EXAMPLES[(route.method, route.path)]
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}}}
    responses: dict[str, Any] = {}
    for status in _STATUS.get((route.method, route.path), ("200",)):
        if route.path in _NOT_JSON:
            description, media_type = _NOT_JSON[route.path]
            responses[status] = {
                "description": description,
                "content": {media_type: {"schema": {"type": "string"}}},
            }
        else:
            responses[status] = {
                "description": _SUCCESS[status],
                "content": {"application/json": {"schema": schemas[route.response]}},
            }
    if route.held is not None:  # the approval policy may hold the change for a second admin
        responses["202"] = {
            "description": "Accepted, not applied: the approval policy holds it for another "
            "admin (GET /v1/approvals)",
            "content": {"application/json": {"schema": schemas[route.held]}},
        }
    extra = dict(_ERRORS)
    if route.role is not None:
        extra |= _GUARDED
        op["security"] = [{"bearer": []}]
        op["description"] = f"Needs a token of role **{route.role.label}** or above."
    if route.method != "GET" and route.role is not None:
        extra |= _CHANGES
    for code, description in extra.items():
        responses[code] = {"description": description} | error
    if route.path == "/readyz":  # not ready: the same answer, saying why
        responses["503"] = {
            "description": "Not ready (draining, or production not loaded here yet): `why` says",
            "content": {"application/json": {"schema": schemas[route.response]}},
        }
    op["responses"] = responses
    return op


@cache
def document() -> dict[str, Any]:
    types: list[Any] = [api_types.Error]
    for route in ROUTES:
        if isinstance(route.body, api_types.Upload):
            if route.body.json_type is not None and route.body.json_type not in types:
                types.append(route.body.json_type)
        elif route.body is not None:
            for body in route.body if isinstance(route.body, tuple) else (route.body,):
                if body not in types:
                    types.append(body)
        if route.response is not None and route.response not in types:
            types.append(route.response)
        if route.held is not None and route.held not in types:
            types.append(route.held)
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    _ids_or_objects(components["SearchBody"])
    schemas: dict[Any, dict[str, Any]] = dict(zip(types, refs, strict=True))
    for route in ROUTES:
        if isinstance(route.body, tuple):
            schemas[route.body] = {"oneOf": [schemas[b] for b in route.body]}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "abgate",
            "version": _version(),
            "description": (
                "A/B experimentation and traffic-splitting gateway for search ranking models. "
                "Every /v1 route needs a bearer token of the role it names: searches and events "
                "a storefront token (unless the deployment opens them, ABGATE_SERVING_AUTH="
                "open), the rest a person's (viewer < experimenter < admin)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ids_or_objects(search: dict[str, Any]) -> None:
    """msgspec says "a list of ids or objects"; the server takes all plain ids or all objects
    (one decoder per form, :func:`gateway.schema.parse_search`): say so, as a oneOf."""
    candidates = search["properties"]["candidates"]
    ids, objects = candidates.pop("items")["anyOf"]
    bounds = {k: candidates.pop(k) for k in ("minItems", "maxItems")}
    candidates["oneOf"] = [
        {"type": "array", "items": ids, **bounds},
        {"type": "array", "items": objects, **bounds},
    ]
    del candidates["type"]


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document())


async def docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "docs.html")
