"""Multipart uploads of the admin API (a model version, a dataset): one small JSON part and one
file part streamed to disk, each bounded in size, the whole body within the upload deadline.
Whatever goes wrong, the partial file is removed and the error names the part."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.errors import PayloadTooLarge, RequestError, RequestTimeout, UnsupportedMediaType
from gateway.http.api_types import Upload
from gateway.http.body import reason_field
from gateway.http.state import Gateway

MAX_JSON_PART_BYTES: Final = 64 * 1024
CHUNK: Final = 1 << 16


async def _read_bounded(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(str(part.name), f"over {limit} bytes")
    return bytes(data)


async def _stream(part: BodyPartReader, target: Path, limit: int, what: str) -> None:
    size = 0
    with target.open("wb") as f:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(str(part.name), f"{what} is over {limit} bytes")
            f.write(chunk)
    if size == 0:
        raise RequestError(str(part.name), f"{what} is empty")


async def read_upload(
    request: web.Request, gw: Gateway, form: Upload, target: Path, limit: int
) -> tuple[Any, str]:
    """Stream the file part to ``target`` (removed on any error); the JSON part decoded (its
    ``reason`` taken out) and that reason."""
    parts = f"'{form.json_part}' and '{form.file_part}'"
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "Content-Type",
            f"expected multipart/form-data with parts {parts}, got {request.content_type!r}",
        )
    raw: bytes | None = None
    got_file = False
    try:
        try:
            async with asyncio.timeout(gw.settings.upload_timeout_s):
                reader = await request.multipart()
                while (part := await reader.next()) is not None:
                    if not isinstance(part, BodyPartReader):
                        raise RequestError("$", "nested multipart bodies are not accepted")
                    if part.name == form.json_part:
                        raw = await _read_bounded(part, MAX_JSON_PART_BYTES)
                    elif part.name == form.file_part:
                        await _stream(part, target, limit, form.file_description)
                        got_file = True
                    else:
                        raise RequestError(str(part.name), f"unknown part; expected {parts}")
        except TimeoutError:
            raise RequestTimeout(
                form.file_part, f"upload not complete in {gw.settings.upload_timeout_s:g} s"
            ) from None
        except (ValueError, HttpProcessingError) as exc:  # a malformed multipart body (or part)
            raise RequestError("$", f"malformed multipart body: {exc}") from None
        if raw is None:
            raise RequestError(form.json_part, f"the '{form.json_part}' part (JSON) is missing")
        if not got_file:
            raise RequestError(
                form.file_part, f"the '{form.file_part}' part ({form.file_description}) is missing"
            )
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RequestError(form.json_part, f"not JSON: {exc}") from None
        reason = ""
        if isinstance(value, dict) and "reason" in value:
            reason = reason_field(value, required=False)
            value = {k: v for k, v in value.items() if k != "reason"}
    except BaseException:
        gw.artifacts.discard(target)
        raise
    return value, reason
