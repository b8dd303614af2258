"""Typed stream records: what a gateway writes is what the worker reads; a bad field is named."""

from __future__ import annotations

import orjson
import pytest

from gateway.records import AssignmentRecord, ExposureRecord, OutcomeRecord, RecordError


def test_round_trips() -> None:
    exposure = ExposureRecord(
        "e1", "s1", "u1", 1.5, 7, "cand-v2", (AssignmentRecord("x", "a", "cand-v2"),), (3, 1, 2)
    )
    assert ExposureRecord.from_json(exposure.to_json()) == exposure
    assert orjson.loads(exposure.to_json())["type"] == "exposure"
    outcome = OutcomeRecord("o1", "purchase", "s1", "u1", 3, 0, 39.9, 2.0)
    assert OutcomeRecord.from_json(outcome.to_json()) == outcome


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[]", "expected a JSON object"),
        (b'{"search_id": "s", "user_id": "u"}', "event_id: expected a string, got None"),
        (b'{"event_id": "e", "search_id": "s", "user_id": 5}', "user_id: expected a string"),
        (
            b'{"event_id": "e", "search_id": "s", "user_id": "u", "assignments": [{"variant": "a"}]}',
            "experiment: expected a string",
        ),
        (b'{"event_id": "e", "search_id": "s", "user_id": "u", "items": [1, "x"]}', "items:"),
    ],
)
def test_exposure_errors_name_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        ExposureRecord.from_json(raw)


def test_outcome_errors_name_the_field() -> None:
    with pytest.raises(RecordError, match="type: expected one of"):
        OutcomeRecord.from_json(b'{"event_id": "e", "search_id": "s", "type": "view"}')
    with pytest.raises(RecordError, match="value: expected a finite number"):
        OutcomeRecord.from_json(
            b'{"event_id": "e", "search_id": "s", "type": "click", "value": "1"}'
        )
