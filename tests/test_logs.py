"""Log lines as JSON or text, each carrying the id of the request it was written for."""

from __future__ import annotations

import logging

import orjson
import pytest

from gateway.logs import REQUEST_ID, JsonFormatter, TextFormatter, configure, request_id


def _record(message: str, exc: bool = False) -> logging.LogRecord:
    try:
        if exc:
            raise ValueError("boom")
    except ValueError:
        import sys

        return logging.LogRecord(
            "abgate.x", logging.ERROR, __file__, 1, message, (), sys.exc_info()
        )
    return logging.LogRecord("abgate.x", logging.WARNING, __file__, 1, message, (), None)


def test_json_lines_carry_the_request_id_when_there_is_one() -> None:
    line = orjson.loads(JsonFormatter().format(_record("no request")))
    assert line["message"] == "no request" and "request_id" not in line
    assert line["level"] == "WARNING" and line["logger"] == "abgate.x" and line["pid"] > 0
    token = REQUEST_ID.set("abc123")
    try:
        line = orjson.loads(JsonFormatter().format(_record("in a request", exc=True)))
        assert line["request_id"] == "abc123" and "ValueError: boom" in line["exception"]
        assert TextFormatter().format(_record("plain")).endswith("plain (request abc123)")
    finally:
        REQUEST_ID.reset(token)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("req-1.A_b", True), (None, False), ("", False), ("x" * 65, False), ("a b", False),
     ("a\nb", False)],
)  # fmt: skip
def test_a_request_id_is_kept_only_when_it_is_a_plain_token(given: str | None, kept: bool) -> None:
    rid = request_id(given)
    assert (rid == given) is kept and 1 <= len(rid) <= 64


def test_a_bad_format_is_named() -> None:
    with pytest.raises(ValueError, match="ABGATE_LOG_FORMAT must be 'json' or 'text'"):
        configure(logging.INFO, "xml")
