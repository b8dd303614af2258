"""Request bodies: the media type, a bounded inflation, a deadline, and JSON.

aiohttp's own inflation is switched off (``auto_decompress=False`` in
:mod:`gateway.http.server`): it inflates on the event loop with no limit on
the output and goes on after the handler has answered. Here a gzip or deflate
body is inflated in one bounded call, so a compression bomb costs at most
``max_body_bytes`` of output before it is refused. Reading the body has a
deadline from the loop clock, and every read in progress is cut short when
the process starts draining, so a client that sends its body slowly (or not at
all) can hold neither a connection nor a shutdown.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec
import msgspec.inspect
import orjson
from aiohttp import web

from gateway.errors import (
    ConfigError,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.http.state import Gateway
from gateway.models.card import parse_version
from gateway.schema import MAX_JSON_DEPTH, nesting_depth, request_error, too_deep

JSON_MEDIA_TYPE: Final = "application/json"
# wbits: 16 + 15 = gzip only; 32 + 15 = zlib or gzip (auto-detected); -15 = raw deflate.
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + 15}
ENCODINGS: Final = ("identity", *_WBITS)


def check_media_type(request: web.Request) -> None:
    """Bodies must be JSON: a form or ``text/plain`` post from another site's page is refused."""
    if request.content_type != JSON_MEDIA_TYPE:
        sent = request.headers.get("Content-Type")
        raise UnsupportedMediaType(
            "Content-Type",
            f"expected {JSON_MEDIA_TYPE}, got {sent!r}"
            if sent
            else f"missing; expected {JSON_MEDIA_TYPE}",
        )


def _supported(encoding: str) -> str:
    encoding = encoding.strip().lower()
    if encoding not in ("", "identity", *_WBITS):
        raise UnsupportedMediaType(
            "Content-Encoding", f"{encoding!r} is not supported; use one of {list(ENCODINGS)}"
        )
    return encoding


def content_encoding(request: web.Request) -> str:
    """The body's ``Content-Encoding``, refused (415) before the body is read if unsupported."""
    return _supported(request.headers.get("Content-Encoding", ""))


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded from ``Content-Encoding``; at most ``limit`` bytes are ever produced."""
    encoding = _supported(encoding)
    if encoding in ("", "identity"):
        return raw
    try:
        body = _inflate(raw, _WBITS[encoding], limit, encoding)
    except zlib.error as exc:
        if encoding != "deflate" or "header" not in str(exc):
            raise RequestError("$", f"corrupt {encoding} body: {exc}") from None
        try:  # "deflate" as many clients send it: raw, without the zlib wrapper
            body = _inflate(raw, -zlib.MAX_WBITS, limit, encoding)
        except zlib.error as raw_exc:
            raise RequestError("$", f"corrupt {encoding} body: {raw_exc}") from None
    return body


def _inflate(raw: bytes, wbits: int, limit: int, encoding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    body = inflater.decompress(raw, limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge("$", f"inflated body larger than the {limit} byte limit")
    if not inflater.eof:
        raise RequestError("$", f"corrupt {encoding} body: the compressed stream ends early")
    if inflater.unused_data:
        raise RequestError(
            "$", f"corrupt {encoding} body: data after the end of the compressed stream"
        )
    return body


async def read_body(request: web.Request, gw: Gateway) -> bytes:
    """The raw body, read within the body deadline; cut short (503) if the process drains."""
    limit = gw.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge("$", f"request body larger than the {limit} byte limit")
    if request.content.is_eof():  # the whole body came with the headers: nothing to wait for
        return await request.read()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(loop.time() + gw.settings.body_timeout_s) as deadline:
            gw.body_reads.add(deadline)
            try:
                return await request.read()
            finally:
                gw.body_reads.discard(deadline)
    except TimeoutError:
        if gw.draining:
            raise Unavailable("the gateway is shutting down; retry on another process") from None
        raise RequestTimeout(
            "$", f"the body did not arrive within {gw.settings.body_timeout_s:g} s"
        ) from None


async def read_json_bytes(request: web.Request, gw: Gateway) -> bytes:
    """The request body, JSON by its media type, inflated, not empty; for a typed decoder."""
    check_media_type(request)
    encoding = content_encoding(request)
    raw = await read_body(request, gw)
    body = inflate(raw, encoding, gw.settings.max_body_bytes)
    if not body:
        raise RequestError("$", "empty body; expected a JSON object")
    return body


async def read_json(request: web.Request, gw: Gateway) -> Any:
    """The request body as JSON, after the checks above; malformed JSON is a 400 at ``$``."""
    body = await read_json_bytes(request, gw)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise too_deep() from None
        raise RequestError("$", f"malformed JSON: {exc}") from None
    if nesting_depth(value) > MAX_JSON_DEPTH:
        raise too_deep()
    return value


MAX_REASON: Final = 500


def reason_field(body: Mapping[str, Any], required: bool) -> str:
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise RequestError("$.reason", f"expected a string of at most {MAX_REASON} characters")
    if required and not reason.strip():
        raise RequestError("$.reason", "is required: say why, for the audit trail")
    return reason


async def read_optional_json(request: web.Request, gw: Gateway) -> Any:
    """A body that may be left out (a verb with nothing to say): none is ``{}``."""
    if not request.body_exists:
        return {}
    return await read_json(request, gw)


T = TypeVar("T")
_GOT: Final = re.compile(r", got `[^`]*`$")
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def as_body(value: Any, of: type[T]) -> T:
    """A parsed JSON body as its documented type (:mod:`gateway.http.api_types`): every field's
    type, bounds and name checked in one pass; an error (400) names the field and its value."""
    try:
        return msgspec.convert(value, of)
    except msgspec.ValidationError as exc:
        error = request_error(exc)
        if error.detail in ("is required", "unknown field"):
            raise error from None
        if error.detail.startswith("Invalid enum value"):  # it names the value: say the choices
            choices = _choices(msgspec.inspect.type_info(of), error.where)
            detail = f"is not one of {choices}" if choices else error.detail
            raise RequestError(
                error.where, f"{detail}, got {_shown(_value_at(value, error.where)[1])}"
            ) from None
        found, bad = _value_at(value, error.where)
        if found:
            detail = _GOT.sub("", error.detail)  # "got `int`": the value says more
            error = RequestError(error.where, f"{detail}, got {_shown(bad)}")
        raise error from None


def _choices(info: msgspec.inspect.Type, where: str) -> list[Any]:
    """The values an enum or literal field at a msgspec path (``$.guardrails[0].metric``) may
    take, from the body's type ([] if the path leads elsewhere)."""
    for match in _STEP.finditer(where.removeprefix("$")):
        name, index = match.groups()
        info = _unwrapped(info)
        if name is not None and isinstance(info, msgspec.inspect.StructType):
            fields = {f.encode_name: f.type for f in info.fields}
            if name not in fields:
                return []
            info = fields[name]
        elif index is not None and isinstance(
            info, msgspec.inspect.ListType | msgspec.inspect.VarTupleType
        ):
            info = info.item_type
        elif index is not None and isinstance(info, msgspec.inspect.TupleType):
            if int(index) >= len(info.item_types):
                return []
            info = info.item_types[int(index)]
        else:
            return []
    info = _unwrapped(info)
    if isinstance(info, msgspec.inspect.LiteralType):
        return list(info.values)
    if isinstance(info, msgspec.inspect.EnumType):
        return [m.value for m in info.cls]
    return []


def _unwrapped(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """``info`` without its metadata, and the one non-None member of an optional."""
    while True:
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        elif isinstance(info, msgspec.inspect.UnionType):
            members = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(members) != 1:
                return info
            info = members[0]
        else:
            return info


def _value_at(value: Any, where: str) -> tuple[bool, Any]:
    """The value at a msgspec path (``$.variants[1].weight``); (False, None) if not found."""
    rest = where.removeprefix("$")
    for match in _STEP.finditer(rest):
        name, index = match.groups()
        if name is not None and isinstance(value, dict) and name in value:
            value = value[name]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_part(value: Any, of: type[T], part: str) -> T:
    """A multipart upload's JSON part as its type; errors name the part (``meta.id``)."""
    try:
        return as_body(value, of)
    except RequestError as exc:
        raise RequestError(part + exc.where.removeprefix("$"), exc.detail) from None


async def read_body_as(request: web.Request, gw: Gateway, of: type[T], optional: bool = False) -> T:
    """The request body decoded as ``of`` (a body that may be left out, when ``optional``: as
    ``{}``)."""
    value = await (read_optional_json(request, gw) if optional else read_json(request, gw))
    return as_body(value, of)


def required_reason(reason: str | None) -> str:
    """A reason that must say something (the audit trail keeps it)."""
    if reason is None or not reason.strip():
        raise RequestError("$.reason", "is required: say why, for the audit trail")
    return reason


def path_id(request: web.Request, name: str) -> str:
    """A path parameter naming a model version or a dataset; a malformed one is a 400 naming
    it (a request error, not an invalid config)."""
    try:
        return parse_version(request.match_info[name], name)
    except ConfigError as exc:
        raise RequestError(exc.where, exc.detail) from None
