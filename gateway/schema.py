"""Request bodies, parsed and validated: every error names the JSON path and what was wrong."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from gateway.errors import RequestError
from gateway.records import OUTCOME_TYPES, OutcomeRecord, OutcomeType

MAX_CANDIDATES: Final = 1000
MAX_K: Final = 200
MAX_ID_LEN: Final = 128
MAX_QUERY_LEN: Final = 512
MAX_EVENTS_PER_REQUEST: Final = 500
MAX_CONTEXT_KEYS: Final = 32
MAX_FEATURES: Final = 256
# One purchase, in the shop's currency. Larger values are refused at the door: the worker
# keeps exact integer sums of per-user revenue in cents and of their squares.
MAX_PURCHASE_VALUE: Final = 100_000.0


@dataclass(frozen=True)
class SearchRequest:
    user_id: str
    query: str
    candidates: list[int]
    k: int
    context: dict[str, Any]
    # [candidates, dim] when the candidates came as {"id", "features"} objects.
    features: npt.NDArray[np.float32] | None = None


def object_at(
    value: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``value`` as an object of the ``allowed`` fields with the ``required`` ones present;
    errors name the field (``where`` is the object's own path, e.g. ``$`` or ``$.events[2]``)."""
    if not isinstance(value, dict):
        raise RequestError(
            where, f"expected an object with any of {list(allowed)}, got {type(value).__name__}"
        )
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise RequestError(f"{where}.{unknown[0]}", f"unknown field; allowed: {list(allowed)}")
    for name in required:
        if name not in value:
            raise RequestError(f"{where}.{name}", "is required")
    return value


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RequestError(where, f"expected a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_LEN:
        raise RequestError(where, f"length must be 1..{MAX_ID_LEN}, got {len(value)}")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise RequestError(where, f"must not contain control or format characters, got {bad!r}")
    if value.isspace():
        raise RequestError(where, "must not be only whitespace")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(where, f"expected an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise RequestError(where, f"must be in [{lo}, {hi}], got {value}")
    return value


def _float(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(where, f"expected a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise RequestError(where, f"must be in [{lo}, {hi}], got {value}")
    return float(value)


def parse_search(body: Any) -> SearchRequest:
    data = object_at(
        body,
        "$",
        ("user_id", "query", "candidates", "k", "context"),
        ("user_id", "query", "candidates"),
    )
    query = data["query"]
    if not isinstance(query, str):
        raise RequestError("$.query", f"expected a string, got {type(query).__name__}")
    if len(query) > MAX_QUERY_LEN:
        raise RequestError("$.query", f"longer than {MAX_QUERY_LEN} characters ({len(query)})")
    candidates = data["candidates"]
    if not isinstance(candidates, list):
        raise RequestError(
            "$.candidates", f"expected a list of item ids, got {type(candidates).__name__}"
        )
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise RequestError(
            "$.candidates", f"must hold 1..{MAX_CANDIDATES} item ids, got {len(candidates)}"
        )
    features = None
    if isinstance(candidates[0], dict):
        items, features = _featured(candidates)
    else:
        items = [_int(c, f"$.candidates[{i}]", 0, 2**62) for i, c in enumerate(candidates)]
    if len(set(items)) != len(items):
        raise RequestError("$.candidates", "item ids must be unique")
    context = data.get("context", {})
    if not isinstance(context, dict) or len(context) > MAX_CONTEXT_KEYS:
        raise RequestError("$.context", f"expected an object of at most {MAX_CONTEXT_KEYS} keys")
    return SearchRequest(
        user_id=_id(data["user_id"], "$.user_id"),
        query=query,
        candidates=items,
        k=_int(data.get("k", 10), "$.k", 1, MAX_K),
        context=context,
        features=features,
    )


def _featured(candidates: list[Any]) -> tuple[list[int], npt.NDArray[np.float32]]:
    """Candidates as ``{"id": 12, "features": [0.3, 1.0]}``: every one with as many features."""
    items: list[int] = []
    rows: list[list[float]] = []
    width = None
    for i, c in enumerate(candidates):
        at = f"$.candidates[{i}]"
        obj = object_at(c, at, ("id", "features"), ("id", "features"))
        items.append(_int(obj["id"], f"{at}.id", 0, 2**62))
        row = obj["features"]
        if not isinstance(row, list) or not 1 <= len(row) <= MAX_FEATURES:
            raise RequestError(f"{at}.features", f"expected a list of 1..{MAX_FEATURES} numbers")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise RequestError(
                f"{at}.features",
                f"expected {width} numbers like the first candidate, got {len(row)}",
            )
        rows.append([_float(x, f"{at}.features[{j}]", -3e38, 3e38) for j, x in enumerate(row)])
    return items, np.asarray(rows, dtype=np.float32)


_EVENT_FIELDS: Final = (
    "event_id",
    "type",
    "search_id",
    "user_id",
    "item_id",
    "position",
    "value",
    "ts",
)


def parse_outcome(value: Any, where: str, now: float) -> OutcomeRecord:
    data = object_at(
        value, where, _EVENT_FIELDS, ("event_id", "type", "search_id", "user_id", "item_id")
    )
    kind = data["type"]
    if kind not in OUTCOME_TYPES:
        raise RequestError(f"{where}.type", f"must be one of {list(OUTCOME_TYPES)}, got {kind!r}")
    return OutcomeRecord(
        event_id=_id(data["event_id"], f"{where}.event_id"),
        type=cast(OutcomeType, kind),
        search_id=_id(data["search_id"], f"{where}.search_id"),
        user_id=_id(data["user_id"], f"{where}.user_id"),
        item_id=_int(data["item_id"], f"{where}.item_id", 0, 2**62),
        position=_int(data.get("position", 0), f"{where}.position", 0, MAX_CANDIDATES),
        value=_float(data.get("value", 0.0), f"{where}.value", 0.0, MAX_PURCHASE_VALUE),
        ts=_float(data.get("ts", now), f"{where}.ts", 0.0, 1e11),
    )


def parse_outcomes(body: Any, now: float) -> list[OutcomeRecord]:
    """One event object, or ``{"events": [...]}``; all-or-nothing."""
    if isinstance(body, dict) and "events" in body:
        object_at(body, "$", ("events",), ("events",))
        events = body["events"]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS_PER_REQUEST:
            raise RequestError("$.events", f"expected a list of 1..{MAX_EVENTS_PER_REQUEST} events")
        return [parse_outcome(e, f"$.events[{i}]", now) for i, e in enumerate(events)]
    return [parse_outcome(body, "$", now)]
