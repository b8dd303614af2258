"""Evaluation datasets parsed from JSON lines and from Parquet: one canonical form (and sha256)
whatever the formatting, the legacy unnamed arrays still read, every bad line or row named,
and the sizes bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gateway.errors import ConfigError
from gateway.models.dataset import DatasetLimits, load_dataset, parse_jsonl, parse_parquet
from gateway.models.gates import latency_request

LINES = [
    {
        "query": "waterproof tent",
        "context": {"hour": 20},
        "candidates": [
            {"id": "SKU-12", "grade": 3, "features": {"bm25": 3.1, "ctr_7d": 0.02}},
            {"id": 7, "grade": 0, "features": {"ctr_7d": 0.5, "bm25": 0.2}},
        ],
    },
    {
        "query": "tent pegs",
        "candidates": [{"id": "SKU-9", "grade": 1, "features": {"ctr_7d": 0.1, "bm25": 1}}],
    },
]


def jsonl(lines: list[Any]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def test_named_features_are_read_by_name_and_the_form_is_canonical() -> None:
    dataset = parse_jsonl(jsonl(LINES), "d")
    assert dataset.feature_names == ("bm25", "ctr_7d")
    assert (len(dataset.queries), dataset.candidates) == (2, 3)
    first = dataset.queries[0]
    assert first.items == ("SKU-12", 7) and first.context == {"hour": 20}
    assert first.features is not None
    assert first.features.values.ravel().tolist() == pytest.approx([3.1, 0.02, 0.2, 0.5])
    # Other key orders and whitespace: the same content, the same sha256; the canonical
    # file reads back to itself.
    reordered = [dict(reversed(list(line.items()))) for line in LINES]
    spaced = b"\n\n".join(
        orjson.dumps(line, option=orjson.OPT_INDENT_2).replace(b"\n", b" ") for line in reordered
    )
    again = parse_jsonl(spaced, "d")
    assert again.sha256 == dataset.sha256
    assert parse_jsonl(dataset.canonical(), "d").canonical() == dataset.canonical()
    assert dataset.lacking(["bm25", "price"]) == ["price"]
    assert dataset.lacking([], width=2) == [
        "2 unnamed features per candidate (the dataset has features ['bm25', 'ctr_7d'])"
    ]


def test_the_legacy_unnamed_form_still_reads() -> None:
    raw = jsonl([{"query": "q", "candidates": [{"id": 1, "grade": 2, "features": [1.0, 0.5]}]}])
    dataset = parse_jsonl(raw, "d")
    assert dataset.feature_names is None and dataset.feature_width == 2
    assert dataset.lacking([], width=2) == [] and dataset.lacking(["bm25"]) == ["bm25"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([b"{not json"], "line 1: $: not JSON"),
        ([{"query": "q", "candidates": []}], "line 1: $.candidates: expected a non-empty list"),
        (
            [{"query": "q", "candidates": [{"id": True, "grade": 1}]}],
            "line 1: $.candidates[0].id: expected a string SKU or an integer id, got True",
        ),
        (
            [{"query": "q", "candidates": [{"id": "x" * 129, "grade": 1}]}],
            "line 1: $.candidates[0].id: expected a SKU of 1 to 128 characters",
        ),
        (
            [{"query": "q", "candidates": [{"id": 1, "grade": 11}]}],
            "line 1: $.candidates[0].grade: expected an integer in [0, 10], got 11",
        ),
        (
            [{"query": "q", "candidates": [{"id": 1, "grade": 1, "features": {"a": "x"}}]}],
            "line 1: $.candidates[0].features.a: expected a finite number, got 'x'",
        ),
        (
            [
                {
                    "query": "q",
                    "candidates": [
                        {"id": 1, "grade": 1, "features": {"a": 1}},
                        {"id": 2, "grade": 1, "features": {"b": 1}},
                    ],
                }
            ],
            "line 1: $.candidates[1].features: features ['b'], while the query's first "
            "candidate has features ['a']",
        ),
        (
            [
                {"query": "q", "candidates": [{"id": 1, "grade": 1, "features": {"a": 1}}]},
                {"query": "r", "candidates": [{"id": 1, "grade": 1, "features": {"b": 1}}]},
            ],
            "line 2: $: features: features ['b'], while the dataset's first query has "
            "features ['a']",
        ),
        (
            [{"query": "q", "candidates": [{"id": 1, "grade": 1}], "colour": 1}],
            "line 1: $.colour: unknown field",
        ),
        (
            [{"query": "q", "candidates": [{"id": "12", "grade": 1}, {"id": 12, "grade": 0}]}],
            "line 1: $.candidates[1].id: 12 is on the query twice",
        ),
    ],
)
def test_a_bad_line_is_named(lines: list[Any], message: str) -> None:
    raw = b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines)
    with pytest.raises(ConfigError) as caught:
        parse_jsonl(raw, "d")
    assert message in str(caught.value)


def test_sizes_are_bounded() -> None:
    limits = DatasetLimits(queries=1, candidates_per_query=2, candidates=10, features=2)
    line = {"query": "q", "candidates": [{"id": 1, "grade": 0}]}
    with pytest.raises(ConfigError, match="line 2: \\$: more than 1 queries"):
        parse_jsonl(jsonl([line, line]), "d", limits)
    many = {"query": "q", "candidates": [{"id": i, "grade": 0} for i in range(3)]}
    with pytest.raises(ConfigError, match="more than 2 candidates"):
        parse_jsonl(jsonl([many]), "d", limits)
    wide = {"query": "q", "candidates": [{"id": 1, "grade": 0, "features": [1, 2, 3]}]}
    with pytest.raises(ConfigError, match="more than 2 features"):
        parse_jsonl(jsonl([wide]), "d", limits)


def parquet_of(path: Path, columns: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_rows_are_queries_of_candidates_with_named_features(tmp_path: Path) -> None:
    path = parquet_of(
        tmp_path / "d.parquet",
        {
            "query_id": [1, 1, 2],
            "query": ["waterproof tent", "waterproof tent", "tent pegs"],
            "item_id": ["SKU-12", "7", "SKU-9"],
            "grade": [3, 0, 1],
            "bm25": [3.5, 0.25, 1.0],
            "ctr_7d": [0.5, 0.125, 0.0],
        },
    )
    dataset = load_dataset(path)
    assert dataset.feature_names == ("bm25", "ctr_7d")
    assert [q.items for q in dataset.queries] == [("SKU-12", "7"), ("SKU-9",)]
    assert [q.grades.tolist() for q in dataset.queries] == [[3, 0], [1]]
    # Its canonical form is JSON lines that read back to the same dataset.
    assert parse_jsonl(dataset.canonical(), "d").sha256 == dataset.sha256
    # One request of N candidates for the latency gate: the queries' candidates, repeated.
    request = latency_request(dataset, 7)
    assert request.items == ("SKU-12", "7", "SKU-9", "SKU-12", "7", "SKU-9", "SKU-12")
    assert request.features is not None and request.features.values.shape == (7, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grade": None}, "column 'grade': missing"),
        ({"colour": ["red", "red"]}, "column 'colour': a feature column must be numeric"),
        ({"bm25": [1.0, None]}, "row 1: column 'bm25': is null"),
        ({"bm25": [1.0, float("nan")]}, "row 1: column 'bm25': expected a finite number, got nan"),
        ({"item_id": ["A", "A"]}, "$.candidates[1].id: 'A' is on the query twice"),
        ({"grade": [1, 12]}, "row 1: column 'grade': expected an integer in [0, 10], got 12"),
        ({"query": ["a", "b"]}, "row 1: column 'query': query_id 1 has the query 'a' on row 0"),
    ],
)
def test_a_bad_parquet_row_or_column_is_named(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    columns: dict[str, Any] = {
        "query_id": [1, 1],
        "query": ["a", "a"],
        "item_id": [1, 2],
        "grade": [1, 0],
        "bm25": [1.0, 2.0],
    }
    for k, v in change.items():
        if v is None:
            del columns[k]
        else:
            columns[k] = v
    path = parquet_of(tmp_path / "d.parquet", columns)
    with pytest.raises(ConfigError) as caught:
        parse_parquet(path, "d")
    assert message in str(caught.value)


def test_a_boolean_parquet_column_is_a_feature_of_0_and_1(tmp_path: Path) -> None:
    columns: dict[str, list[Any]] = {
        "query_id": [1, 1],
        "query": ["a", "a"],
        "item_id": ["A", "B"],
        "grade": [1, 0],
        "in_stock": [True, False],
    }
    dataset = parse_parquet(parquet_of(tmp_path / "d.parquet", columns), "d")
    (query,) = dataset.queries
    assert query.features is not None and query.features.values.tolist() == [[1.0], [0.0]]
