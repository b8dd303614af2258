"""Evaluation datasets: queries, their candidates with named features, and graded relevance.

Two forms are read, both into one :class:`Dataset`:

- **JSON lines**, one query per line::

      {"query": "waterproof tent", "context": {"hour": 20},
       "candidates": [{"id": "SKU-12", "grade": 3, "features": {"bm25": 3.1, "ctr_7d": 0.02}},
                      ...]}

  ``id`` is a string SKU or an integer; ``grade`` is graded relevance (0 = not relevant …
  3 = perfect, up to 10); ``features`` is an object of named numbers, the same names on every
  candidate of the dataset (the legacy unnamed form, a list of numbers of one length, is read
  too); ``features`` and ``context`` may be left out when no version reads them.
- **Parquet**, one row per candidate: ``query_id`` (groups the rows of one query, which keep
  their order), ``query`` (text), ``item_id`` (string or integer), ``grade`` (integer), and
  every other numeric column is a named feature.

A dataset's identity is the sha256 of its canonical form (:meth:`Dataset.canonical`: JSON
lines with sorted keys, features named as uploaded), so the same content uploaded again is
recognised whatever its formatting, and the stored file is itself a valid upload. Every error
names the line (or row) and the field; sizes are bounded (:class:`DatasetLimits`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import orjson

from gateway.errors import ConfigError
from gateway.inference.feature_table import FeatureTable
from gateway.schema import MAX_FEATURES, MAX_ID_LEN, MAX_ITEM_ID, MAX_QUERY_LEN

ItemId = int | str
Format = Literal["jsonl", "parquet"]
FORMATS: Final = ("jsonl", "parquet")
MAX_GRADE: Final = 10
MAX_FEATURE_NAME: Final = 128
MAX_ABS_VALUE: Final = 3e38  # float32's range
PARQUET_MAGIC: Final = b"PAR1"
# The Parquet form's columns that are not features.
PARQUET_COLUMNS: Final = ("query_id", "query", "item_id", "grade")


@dataclass(frozen=True)
class DatasetLimits:
    queries: int = 10_000
    candidates_per_query: int = 1_000
    candidates: int = 500_000
    features: int = MAX_FEATURES
    # Feature values in all (candidates × features): what the parsed dataset holds in memory.
    values: int = 20_000_000


@dataclass(frozen=True)
class DatasetQuery:
    query: str
    items: tuple[ItemId, ...]
    grades: npt.NDArray[np.int64]
    features: FeatureTable | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Dataset:
    source: str
    sha256: str
    queries: tuple[DatasetQuery, ...]
    # The features every candidate carries: names (named), None (unnamed arrays) or () (none).
    feature_names: tuple[str, ...] | None
    feature_width: int

    @property
    def candidates(self) -> int:
        return sum(q.size for q in self.queries)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "queries": len(self.queries),
            "candidates": self.candidates,
            "features": None if self.feature_names is None else list(self.feature_names),
        }

    def lacking(self, names: Sequence[str], width: int = 0) -> list[str]:
        return missing_features(self.feature_names, self.feature_width, names, width)

    def canonical(self) -> bytes:
        return b"".join(orjson.dumps(q, option=orjson.OPT_SORT_KEYS) + b"\n" for q in _rows(self))


def missing_features(
    have: Sequence[str] | None, have_width: int, names: Sequence[str], width: int = 0
) -> list[str]:
    """What a reader of the named features ``names`` (or, for a legacy input, of ``width``
    unnamed ones) finds missing in a dataset that carries ``have`` (None: ``have_width``
    unnamed features): the missing names, or one line saying why it cannot read it."""
    if names:
        present = set(have or ())
        return [n for n in names if n not in present]
    if width and (have is not None or width != have_width):
        has = _features_text(None if have is None else tuple(have), have_width)
        return [f"{width} unnamed features per candidate (the dataset has {has})"]
    return []


def _rows(dataset: Dataset) -> Iterator[dict[str, Any]]:
    for q in dataset.queries:
        candidates = []
        for i, item in enumerate(q.items):
            row: dict[str, Any] = {"id": item, "grade": int(q.grades[i])}
            if q.features is not None:
                values = [float(x) for x in q.features.values[i]]
                row["features"] = (
                    values
                    if q.features.names is None
                    else dict(zip(q.features.names, values, strict=True))
                )
            candidates.append(row)
        line: dict[str, Any] = {"query": q.query, "candidates": candidates}
        if q.context:
            line["context"] = dict(q.context)
        yield line


class _Builder:
    """Collects queries, checking the limits and that every candidate has the same features."""

    def __init__(self, source: str, limits: DatasetLimits) -> None:
        self.source = source
        self.limits = limits
        self.queries: list[DatasetQuery] = []
        self.names: tuple[str, ...] | None = ()
        self.width = 0
        self.first = True
        self.candidates = 0

    def add(
        self,
        where: str,
        query: str,
        items: list[ItemId],
        grades: list[int],
        features: list[list[float]] | None,
        names: tuple[str, ...] | None,
        context: Mapping[str, Any],
    ) -> None:
        width = 0 if features is None else len(features[0]) if features else 0
        if features is None:
            names = ()
        elif (
            names is not None
            and self.names
            and names != self.names
            and set(names) == set(self.names)
        ):  # the same names in another order: the dataset's first order, for every query
            column = {n: j for j, n in enumerate(names)}
            order = [column[n] for n in self.names]
            features = [[row[j] for j in order] for row in features]
            names = self.names
        if self.first:
            self.names, self.width, self.first = names, width, False
        elif (names, width) != (self.names, self.width):
            raise ConfigError(
                f"{where}: features",
                f"{_features_text(names, width)}, while the dataset's first query has "
                f"{_features_text(self.names, self.width)}; every candidate of a dataset "
                "carries the same features",
            )
        if len({str(i) for i in items}) != len(items):
            first_at: dict[str, int] = {}
            for i, item in enumerate(items):
                if first_at.setdefault(str(item), i) != i:
                    twice = i
                    break
            raise ConfigError(
                f"{where.removesuffix(': $')}: $.candidates[{twice}].id",
                f"{items[twice]!r} is on the query twice; a query's item ids are unique "
                '(12 and "12" are the same item), as in a search',
            )
        self.candidates += len(items)
        if len(self.queries) >= self.limits.queries:
            raise ConfigError(where, f"more than {self.limits.queries} queries")
        if self.candidates > self.limits.candidates:
            raise ConfigError(where, f"more than {self.limits.candidates} candidates in all")
        if self.candidates * width > self.limits.values:
            raise ConfigError(where, f"more than {self.limits.values} feature values in all")
        table = (
            None
            if features is None
            else FeatureTable(
                np.asarray(features, dtype=np.float32).reshape(len(items), width), names
            )
        )
        self.queries.append(
            DatasetQuery(query, tuple(items), np.asarray(grades, dtype=np.int64), table, context)
        )

    def build(self) -> Dataset:
        if not self.queries:
            raise ConfigError(self.source, "the dataset holds no queries")
        draft = Dataset(self.source, "", tuple(self.queries), self.names, self.width)
        sha = hashlib.sha256(draft.canonical()).hexdigest()
        return Dataset(self.source, sha, draft.queries, self.names, self.width)


def _features_text(names: tuple[str, ...] | None, width: int) -> str:
    if names is None:
        return f"{width} unnamed features"
    if not names:
        return "no features"
    shown = ", ".join(repr(n) for n in names[:5])
    return f"features [{shown}{', …' if len(names) > 5 else ''}]"


def _item_id(value: Any, where: str) -> ItemId:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(where, f"expected a string SKU or an integer id, got {value!r}")
    if isinstance(value, int) and not 0 <= value <= MAX_ITEM_ID:
        raise ConfigError(where, f"expected an integer id in [0, 2**62], got {value!r}")
    if isinstance(value, str) and not 1 <= len(value) <= MAX_ID_LEN:
        raise ConfigError(where, f"expected a SKU of 1 to {MAX_ID_LEN} characters, got {value!r}")
    return value


def _grade(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRADE:
        raise ConfigError(where, f"expected an integer in [0, {MAX_GRADE}], got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) > MAX_ABS_VALUE
    ):
        raise ConfigError(where, f"expected a finite number, got {value!r}")
    return float(value)


def _feature_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_FEATURE_NAME:
        raise ConfigError(where, f"expected a feature name of 1 to {MAX_FEATURE_NAME} characters")
    return name


def _candidate_features(
    value: Any, where: str, names: tuple[str, ...] | None, limits: DatasetLimits
) -> tuple[list[float], tuple[str, ...] | None]:
    """One candidate's features; ``names`` are its query's first candidate's (None: unnamed)."""
    if isinstance(value, list):
        if len(value) > limits.features:
            raise ConfigError(where, f"more than {limits.features} features")
        return [_number(x, f"{where}[{i}]") for i, x in enumerate(value)], None
    if not isinstance(value, dict):
        raise ConfigError(where, "expected an object of name -> number (or a list of numbers)")
    if len(value) > limits.features:
        raise ConfigError(where, f"more than {limits.features} features")
    order = names if names is not None and set(value) == set(names) else tuple(value)
    return [_number(value[_feature_name(n, where)], f"{where}.{n}") for n in order], order


def parse_jsonl(raw: bytes, source: str, limits: DatasetLimits | None = None) -> Dataset:
    """The JSON-lines form; an error names the line and the field."""
    limits = limits or DatasetLimits()
    builder = _Builder(source, limits)
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        at = f"line {number}: $"
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(at, f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(at, "expected an object with 'query' and 'candidates'")
        unknown = sorted(set(data) - {"query", "candidates", "context"})
        if unknown:
            raise ConfigError(
                f"{at}.{unknown[0]}", "unknown field; allowed: candidates, context, query"
            )
        query = data.get("query")
        if not isinstance(query, str) or len(query) > MAX_QUERY_LEN:
            raise ConfigError(
                f"{at}.query", f"expected a string of at most {MAX_QUERY_LEN} characters"
            )
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise ConfigError(f"{at}.candidates", "expected a non-empty list")
        if len(candidates) > limits.candidates_per_query:
            raise ConfigError(
                f"{at}.candidates", f"more than {limits.candidates_per_query} candidates"
            )
        items: list[ItemId] = []
        grades: list[int] = []
        features: list[list[float]] = []
        names: tuple[str, ...] | None = None
        for i, c in enumerate(candidates):
            where = f"{at}.candidates[{i}]"
            if not isinstance(c, dict):
                raise ConfigError(where, "expected an object with 'id' and 'grade'")
            unknown = sorted(set(c) - {"id", "grade", "features"})
            if unknown:
                raise ConfigError(
                    f"{where}.{unknown[0]}", "unknown field; allowed: features, grade, id"
                )
            items.append(_item_id(c.get("id"), f"{where}.id"))
            grades.append(_grade(c.get("grade"), f"{where}.grade"))
            if ("features" in c) != ("features" in candidates[0]):
                raise ConfigError(f"{where}.features", "on every candidate of a query or on none")
            if "features" not in c:
                continue
            values, these = _candidate_features(c["features"], f"{where}.features", names, limits)
            if i == 0:
                names = these
            elif (
                (these is None) != (names is None)
                or (names is not None and these is not None and set(these) != set(names))
                or len(values) != len(features[0])
            ):
                raise ConfigError(
                    f"{where}.features",
                    f"{_features_text(these, len(values))}, while the query's first candidate "
                    f"has {_features_text(names, len(features[0]))}",
                )
            features.append(values)
        context = data.get("context", {})
        if not isinstance(context, dict):
            raise ConfigError(f"{at}.context", "expected an object")
        has = "features" in candidates[0]
        builder.add(at, query, items, grades, features if has else None, names, context)
    return builder.build()


def parse_parquet(path: Path, source: str, limits: DatasetLimits | None = None) -> Dataset:
    """The Parquet form, one row per candidate; an error names the row and the column."""
    import pyarrow as pa  # only an upload or a gate run in this form pays for the import
    import pyarrow.parquet as pq

    limits = limits or DatasetLimits()
    try:
        meta = pq.read_metadata(path)
        if meta.num_rows > limits.candidates:
            raise ConfigError(source, f"more than {limits.candidates} rows (candidates)")
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(source, f"not a readable Parquet file: {exc}") from None
    columns = {name: table.column(name) for name in table.column_names}
    for name in PARQUET_COLUMNS:
        if name not in columns:
            raise ConfigError(
                f"{source}: column {name!r}",
                f"missing; the Parquet form has columns {list(PARQUET_COLUMNS)} and one numeric "
                "column per feature",
            )
    names = tuple(n for n in table.column_names if n not in PARQUET_COLUMNS)
    for n in names:
        kind = columns[n].type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise ConfigError(
                f"{source}: column {n!r}",
                f"a feature column must be numeric, got {kind}; the other columns are "
                f"{list(PARQUET_COLUMNS)}",
            )
        _feature_name(n, f"{source}: column {n!r}")
    if len(names) > limits.features:
        raise ConfigError(source, f"more than {limits.features} feature columns")
    for n in (*PARQUET_COLUMNS, *names):
        nulls = columns[n].null_count
        if nulls:
            row = next(i for i, v in enumerate(columns[n].is_null().to_pylist()) if v)
            raise ConfigError(f"row {row}: column {n!r}", "is null")
    query_ids = columns["query_id"].to_pylist()
    texts = columns["query"].to_pylist()
    item_ids = columns["item_id"].to_pylist()
    grade_values = columns["grade"].to_pylist()
    matrix = (
        np.column_stack([columns[n].to_numpy().astype(np.float64) for n in names])
        if names
        else np.zeros((table.num_rows, 0))
    )
    groups: dict[Any, list[int]] = {}
    for row, qid in enumerate(query_ids):
        if isinstance(qid, bool) or not isinstance(qid, int | str):
            raise ConfigError(
                f"row {row}: column 'query_id'", f"expected a string or an integer, got {qid!r}"
            )
        groups.setdefault(qid, []).append(row)
    builder = _Builder(source, limits)
    for qid, rows in groups.items():
        first = rows[0]
        query = texts[first]
        if not isinstance(query, str) or len(query) > MAX_QUERY_LEN:
            raise ConfigError(
                f"row {first}: column 'query'",
                f"expected a string of at most {MAX_QUERY_LEN} characters",
            )
        for row in rows:
            if texts[row] != query:
                raise ConfigError(
                    f"row {row}: column 'query'",
                    f"query_id {qid!r} has the query {query!r} on row {first}, {texts[row]!r} here",
                )
        if len(rows) > limits.candidates_per_query:
            raise ConfigError(
                f"row {rows[limits.candidates_per_query]}: column 'query_id'",
                f"query_id {qid!r} has more than {limits.candidates_per_query} candidates",
            )
        items = [_item_id(item_ids[r], f"row {r}: column 'item_id'") for r in rows]
        grades = [_grade(grade_values[r], f"row {r}: column 'grade'") for r in rows]
        block = matrix[rows]
        bad = ~np.isfinite(block) | (np.abs(block) > MAX_ABS_VALUE)
        if bad.any():
            r, c = (int(x[0]) for x in np.nonzero(bad))
            raise ConfigError(
                f"row {rows[r]}: column {names[c]!r}",
                f"expected a finite number, got {float(block[r, c])!r}",
            )
        features = block.tolist() if names else None
        builder.add(f"row {first}", query, items, grades, features, names, {})
    return builder.build()


def sniff_format(head: bytes) -> Format:
    """Parquet files begin with ``PAR1``; anything else is read as JSON lines."""
    return "parquet" if head.startswith(PARQUET_MAGIC) else "jsonl"


def load_dataset(
    path: Path, source: str | None = None, limits: DatasetLimits | None = None
) -> Dataset:
    """A dataset file in either form (told apart by its first bytes)."""
    source = source or path.name
    try:
        with path.open("rb") as f:
            head = f.read(len(PARQUET_MAGIC))
        if sniff_format(head) == "parquet":
            return parse_parquet(path, source, limits)
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, f"cannot read the dataset: {exc}") from None
    return parse_jsonl(raw, source, limits)
