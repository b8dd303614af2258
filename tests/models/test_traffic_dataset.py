"""A dataset built from logged traffic: exposures with features, labelled by outcomes."""

from __future__ import annotations

import numpy as np
import orjson

from gateway.inference.feature_table import FeatureTable
from gateway.models.traffic_dataset import build
from gateway.records import ExposureRecord, OutcomeRecord


def _exposure(search_id: str, items: tuple[int | str, ...], rows: int) -> ExposureRecord:
    values = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    return ExposureRecord(
        search_id,
        search_id,
        "u",
        items=items,
        features=FeatureTable(values, ("bm25", "ctr")),
        query=f"q-{search_id}",
        context={"hour": 20},
    )


def _outcome(kind: str, search_id: str, item: int | str) -> OutcomeRecord:
    return OutcomeRecord(f"{kind}-{search_id}-{item}", kind, search_id, "u", item)  # type: ignore[arg-type]


def test_outcomes_grade_the_logged_rows_and_untouched_pages_are_left_out() -> None:
    exposures = [
        _exposure("s1", ("SKU-1", "SKU-2", 3), 2),  # the third item's features were not logged
        _exposure("s2", ("SKU-1",), 1),  # nobody touched it
        ExposureRecord("s3", "s3", "u", items=("SKU-9",)),  # not sampled for logging
    ]
    outcomes = [
        _outcome("click", "s1", "SKU-2"),
        _outcome("purchase", "s1", "SKU-2"),  # the strongest outcome counts
        _outcome("add_to_cart", "s1", 3),  # on a row that was not logged: nothing to label
        _outcome("purchase", "", "SKU-1"),  # at checkout: no page to credit
        _outcome("click", "s3", "SKU-9"),
    ]
    built = build(exposures, outcomes, max_searches=100)
    (line,) = [orjson.loads(x) for x in built.jsonl.splitlines()]
    assert line == {
        "query": "q-s1",
        "context": {"hour": 20},
        "candidates": [
            {"id": "SKU-1", "grade": 0, "features": {"bm25": 0.0, "ctr": 1.0}},
            {"id": "SKU-2", "grade": 3, "features": {"bm25": 2.0, "ctr": 3.0}},
        ],
    }
    assert built.describe() == {
        "searches": 1,
        "logged_searches": 2,
        "left_out_unlabelled": 1,
        "left_out_lacking_features": 0,
        "features": ["bm25", "ctr"],
        "candidates": 2,
        "grades": {"0": 1, "3": 1},
    }
    everything = build(exposures, outcomes, max_searches=100, with_unlabelled=True)
    assert everything.searches == 2
    latest = build(exposures, outcomes, max_searches=1, with_unlabelled=True)
    assert [orjson.loads(x)["query"] for x in latest.jsonl.splitlines()] == ["q-s2"]
    assert latest.candidates == 1 and latest.graded == {0: 1}


def test_one_feature_set_the_latest_unless_asked_for_another() -> None:
    """A feature added for the next ranker: the dataset takes the latest search's set, and
    leaves out the searches that lack one of its features; asked for the older set, it keeps
    them all and drops the extra name."""
    old = _exposure("s1", ("A",), 1)
    values = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    new = ExposureRecord(
        "s2", "s2", "u", items=("B",), features=FeatureTable(values, ("ctr", "bm25", "fresh"))
    )
    clicks = [_outcome("click", "s1", "A"), _outcome("click", "s2", "B")]
    latest = build([old, new], clicks, max_searches=10)
    assert latest.features == ("ctr", "bm25", "fresh") and latest.other_features == 1
    (line,) = [orjson.loads(x) for x in latest.jsonl.splitlines()]
    assert line["candidates"][0]["features"] == {"ctr": 1.0, "bm25": 2.0, "fresh": 3.0}
    both = build([old, new], clicks, max_searches=10, features=["bm25", "ctr"])
    assert both.searches == 2 and both.other_features == 0
    rows = [orjson.loads(x)["candidates"][0]["features"] for x in both.jsonl.splitlines()]
    assert rows == [{"bm25": 0.0, "ctr": 1.0}, {"bm25": 2.0, "ctr": 1.0}]
