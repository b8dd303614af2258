"""Logging: one JSON object per line (for a log pipeline) or plain text (for a terminal),
each line carrying the id of the request it was written for.

``ABGATE_LOG_FORMAT`` is ``json`` or ``text``; by default text when stderr is a terminal,
JSON otherwise. The request id comes from the request's ``X-Request-Id`` header when it
is a plain token of at most 64 characters, else a new one; the response echoes it
(:func:`gateway.http.errors.error_middleware`).
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from typing import Final

import orjson

from gateway.ids import random_id

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "abgate_request_id", default=None
)
_TOKEN: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id(given: str | None) -> str:
    """The caller's id when it is a plain token, else a new one."""
    return given if given is not None and _TOKEN.match(given) else random_id()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        rid = REQUEST_ID.get()
        if rid is not None:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = REQUEST_ID.get()
        return f"{text} (request {rid})" if rid is not None else text


def configure(level: int, fmt: str | None = None) -> None:
    """Root logging to stderr in ``fmt`` (``json`` / ``text``; default by the terminal)."""
    chosen = (
        fmt or os.environ.get("ABGATE_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    )
    if chosen not in ("json", "text"):
        raise ValueError(f"ABGATE_LOG_FORMAT must be 'json' or 'text', got {chosen!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
