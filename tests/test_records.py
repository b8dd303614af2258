"""Typed stream records: what a gateway writes is what the worker reads; a bad field is named."""

from __future__ import annotations

import orjson
import pytest

from gateway.records import (
    AssignmentRecord,
    ExposureRecord,
    InterleavedPage,
    OutcomeRecord,
    RecordError,
)


def test_round_trips() -> None:
    exposure = ExposureRecord(
        "e1", "s1", "u1", 1.5, 7, "cand-v2", (AssignmentRecord("x", "a", "cand-v2"),), (3, 1, 2)
    )
    assert ExposureRecord.from_json(exposure.to_json()) == exposure
    assert orjson.loads(exposure.to_json())["type"] == "exposure"
    page = InterleavedPage(2**40, ("prod-v1", "cand-v2"), (1, 0, 0), (True, True, False))
    interleaved = ExposureRecord(
        "e2",
        "s2",
        "u1",
        assignments=(AssignmentRecord("il", "interleaved", "prod-v1"),),
        items=(3, 1, 2),
        interleaving=page,
    )
    assert ExposureRecord.from_json(interleaved.to_json()) == interleaved
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
        (b'{"event_id": "e", "search_id": "s", "user_id": "u", "items": [1, true]}', "items:"),
        (
            b'{"event_id": "e", "search_id": "s", "user_id": "u", "items": [1, 2],'
            b' "interleaving": {"versions": ["a", "b"], "teams": [0, 2], "competitive": [1, 0]}}',
            r"interleaving.teams: expected 2 team indices below 2, got \[0, 2\]",
        ),
        (
            b'{"event_id": "e", "search_id": "s", "user_id": "u", "items": [1],'
            b' "interleaving": {"versions": ["a", "b"], "teams": [0], "competitive": [1]}}',
            "interleaving.competitive: expected 1 booleans",
        ),
        (
            b'{"event_id": "e", "search_id": "s", "user_id": "u", "items": [1],'
            b' "interleaving": {"versions": ["a"], "teams": [0], "competitive": [true]}}',
            "interleaving.versions: expected 2 or more",
        ),
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
    with pytest.raises(RecordError, match="search_id: a click names its search, got ''"):
        OutcomeRecord.from_json(b'{"event_id": "e", "search_id": "", "type": "click"}')


def test_a_purchase_at_checkout_names_no_search() -> None:
    checkout = OutcomeRecord("o1", "purchase", "", "u1", "SKU-1", 0, 12.5, 3.0)
    assert OutcomeRecord.from_json(checkout.to_json()) == checkout


def test_an_exposure_with_logged_features_round_trips_and_bad_ones_are_named() -> None:
    import numpy as np

    from gateway.inference.feature_table import FeatureTable
    from gateway.records import ExposureRecord

    table = FeatureTable(np.array([[1.0, 0.5], [2.0, 0.25]], dtype=np.float32), ("bm25", "ctr"))
    exposure = ExposureRecord("e", "s", "u", items=("SKU-1", 7, "SKU-3"), features=table)
    back = ExposureRecord.from_json(exposure.to_json())
    assert back.items == ("SKU-1", 7, "SKU-3")
    assert back.features is not None and back.features.names == ("bm25", "ctr")
    assert back.features.values.tolist() == [[1.0, 0.5], [2.0, 0.25]]
    raw = orjson.loads(exposure.to_json())
    raw["features"]["values"] = [[1.0]] * 4  # more rows than items shown
    with pytest.raises(RecordError, match=r"features\.values: expected at most 3 rows of 2"):
        ExposureRecord.from_json(raw)


def test_an_evaluation_keeps_each_arms_operational_figures() -> None:
    from gateway.records import (
        ArmOpsRecord,
        DecisionRecord,
        EvaluationRecord,
        LatencyTestRecord,
    )

    latency = LatencyTestRecord(0.99, 1.1, 0.95, None, 3.0, 0.8, False)
    ops = (
        ArmOpsRecord("control", 1200, 3, 0.0025, 4.1, 12.0),
        ArmOpsRecord("candidate", 1190, 0, 0.0, 4.4, 13.25, latency),
    )
    record = EvaluationRecord("x", 1.0, "purchase_conversion", 0.05, 60.0,
                              DecisionRecord("continue", None, ()), ops=ops)  # fmt: skip
    data = orjson.loads(record.encode())
    assert data["ops"][0] == {"variant": "control", "requests": 1200, "errors": 3,
                              "error_rate": 0.0025, "p50_ms": 4.1, "p99_ms": 12.0,
                              "latency": None}  # fmt: skip
    assert data["ops"][1]["latency"] == {"quantile": 0.99, "ratio": 1.1, "ci_low": 0.95,
                                         "ci_high": None, "margin": 3.0, "p_value": 0.8,
                                         "breached": False}  # fmt: skip
    assert EvaluationRecord.from_json(record.encode()).ops == ops
    # A record from before the figures reads back without them.
    del data["ops"]
    assert EvaluationRecord.from_json(data).ops == ()


def test_an_evaluation_of_arms_without_users_reads_back() -> None:
    """An arm with no users yet has no mean (NaN): written as JSON null, it reads back as NaN
    (it was a 500 on experiments show right after a restore, and for any new experiment)."""
    import math

    from gateway.records import DecisionRecord, EvaluationRecord

    record = EvaluationRecord("x", 1.0, "purchase_conversion", 0.05, 60.0,
                              DecisionRecord("continue", None, ("min_units",)),
                              units={"control": 0, "treatment": 0},
                              means={"control": math.nan, "treatment": math.nan})  # fmt: skip
    data = orjson.loads(record.encode())
    assert data["means"] == {"control": None, "treatment": None}
    back = EvaluationRecord.from_json(record.encode())
    assert back.units == {"control": 0, "treatment": 0}
    assert all(math.isnan(v) for v in back.means.values())
