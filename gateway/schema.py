"""Request bodies: msgspec types that both validate (one C pass over the JSON) and describe the
API (the OpenAPI document is generated from them, :mod:`gateway.http.openapi`).

What a JSON Schema cannot say — ids printable and not blank, candidate ids unique, every
candidate with as many features — is checked right after decoding. Every error names the JSON
path of the bad part.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec
import numpy as np
from msgspec import Meta, Struct

from gateway.errors import RequestError
from gateway.inference.feature_table import FeatureTable
from gateway.records import OUTCOME_TYPES, OutcomeRecord

MAX_CANDIDATES: Final = 1000
MAX_K: Final = 200
MAX_ID_LEN: Final = 128
MAX_QUERY_LEN: Final = 512
MAX_EVENTS_PER_REQUEST: Final = 500
MAX_CONTEXT_KEYS: Final = 32
# How deep a context value may nest (a list in an object in ...): the exposure and the shadow
# log encode it, and orjson refuses past 254 levels.
MAX_CONTEXT_DEPTH: Final = 8
# Any body nested deeper is refused: msgspec's and orjson's decoders recurse, and Python's own
# recursion limit is reached at ~1 000 levels (a 200-byte gzip body can carry them).
MAX_JSON_DEPTH: Final = 64
MAX_FEATURES: Final = 256
MAX_FEATURE_NAME: Final = 64
# One purchase, in the shop's currency. Larger values are refused at the door: the worker
# keeps exact integer sums of per-user revenue in cents and of their squares.
MAX_PURCHASE_VALUE: Final = 100_000.0
MAX_ITEM_ID: Final = 2**62

Id = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_ID_LEN,
        description="printable, not only whitespace",
        examples=["u-123"],
    ),
]
IntItemId = Annotated[int, Meta(ge=0, le=MAX_ITEM_ID)]
SkuId = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LEN)]
ItemId = Annotated[
    IntItemId | SkuId,
    Meta(description="a catalogue item id: a string SKU or an integer", examples=["SKU-1042"]),
]
Feature = Annotated[float, Meta(ge=-3e38, le=3e38)]
FeatureName = Annotated[str, Meta(min_length=1, max_length=MAX_FEATURE_NAME)]
NamedFeatures = Annotated[
    dict[FeatureName, Feature],
    Meta(min_length=1, max_length=MAX_FEATURES, examples=[{"bm25": 3.1, "ctr_7d": 0.02}]),
]
Column = Annotated[list[Feature], Meta(min_length=1, max_length=MAX_CANDIDATES)]


class Candidate(Struct, forbid_unknown_fields=True):
    """A candidate with the features the rankers read: named (``{"bm25": 3.1, ...}``, the
    same names on every candidate), or an array (the same length on every candidate) for a
    version that declares a width."""

    id: ItemId
    features: NamedFeatures | Annotated[list[Feature], Meta(min_length=1, max_length=MAX_FEATURES)]


class SearchBody(Struct, forbid_unknown_fields=True):
    """``POST /v1/search``: one query of one user over the candidates to rank."""

    user_id: Id
    query: Annotated[str, Meta(max_length=MAX_QUERY_LEN)]
    candidates: Annotated[
        list[ItemId | Candidate],
        Meta(
            min_length=1,
            max_length=MAX_CANDIDATES,
            description="unique item ids, or {id, features} objects (not mixed)",
        ),
    ]
    k: Annotated[int, Meta(ge=1, le=MAX_K, description="how many items to return")] = 10
    context: Annotated[dict[str, Any], Meta(max_length=MAX_CONTEXT_KEYS)] = {}
    features: (
        Annotated[
            dict[FeatureName, Column],
            Meta(
                min_length=1,
                max_length=MAX_FEATURES,
                description="named features as columns, one number per candidate in order "
                "(candidates then plain ids): the compact form for large searches",
                examples=[{"bm25": [3.1, 1.2], "ctr_7d": [0.02, 0.0]}],
            ),
        ]
        | None
    ) = None


class _SearchByIds(SearchBody, forbid_unknown_fields=True):
    """The common case, decoded straight into a list of ints (no per-candidate Python work)."""

    candidates: Annotated[list[ItemId], Meta(min_length=1, max_length=MAX_CANDIDATES)]  # type: ignore[assignment]


class Event(Struct, forbid_unknown_fields=True):
    """A click, add-to-cart or purchase on an item of a search's results, or a purchase at
    checkout without a search: it counts for the arms the user was exposed to within each
    experiment's attribution window."""

    event_id: Annotated[
        Id,
        Meta(description="unique per event: a retry is de-duplicated", examples=["ev-8c1f02e4"]),
    ]
    type: Literal["click", "add_to_cart", "purchase"]
    user_id: Id
    item_id: ItemId
    search_id: (
        Annotated[
            Id,
            Meta(
                description="the search_id the search answered; a purchase at checkout may "
                "omit it (it counts for the user's arms within the attribution window)",
                examples=["5f0c2a9e7d3b41c8a6e4f1b2c3d4e5f6.q9Zs3mVx0cRkT1uYw2bLnA"],
            ),
        ]
        | None
    ) = None
    position: Annotated[int, Meta(ge=0, le=MAX_CANDIDATES)] = 0
    value: Annotated[
        float, Meta(ge=0.0, le=MAX_PURCHASE_VALUE, description="a purchase's value")
    ] = 0.0
    ts: Annotated[float, Meta(ge=0.0, le=1e11, description="unix seconds; default now")] | None = (
        None
    )


class EventBatch(Struct, forbid_unknown_fields=True):
    """Several events at once: all accepted or none."""

    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)]


@dataclass(frozen=True)
class SearchRequest:
    user_id: str
    query: str
    candidates: list[int | str]
    k: int
    context: dict[str, Any]
    # One row per candidate, when the search carried features (named or as arrays).
    features: FeatureTable | None = None


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


_AT: Final = re.compile(r"^(.*?)(?: - at `(\$[^`]*)`)?$", re.S)
_FIELD: Final = re.compile(r"^Object (missing required|contains unknown) field `([^`]*)`$")


def too_deep(where: str = "$") -> RequestError:
    return RequestError(where, f"nested too deeply: at most {MAX_JSON_DEPTH} levels")


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return deepest


def request_error(
    exc: msgspec.ValidationError | msgspec.DecodeError | RecursionError,
) -> RequestError:
    """msgspec's message as a :class:`RequestError` that names the path of the bad part."""
    if isinstance(exc, RecursionError):
        return too_deep()
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        if text == "Input data was truncated":
            return RequestError("$", "malformed JSON: the body ends early (or is empty)")
        return RequestError("$", f"malformed JSON: {text}")
    match = _AT.match(text)
    message, where = (match.group(1), match.group(2) or "$") if match else (text, "$")
    field = _FIELD.match(message)
    if field:
        where = f"{where}.{field.group(2)}"
        return RequestError(
            where, "is required" if "missing" in field.group(1) else "unknown field"
        )
    if message.startswith("Invalid enum value") and where.endswith(".type"):
        message += f"; expected one of {list(OUTCOME_TYPES)}"
    return RequestError(where, message.replace("Expected", "expected", 1))


_SEARCH: Final = msgspec.json.Decoder(SearchBody)
_SEARCH_BY_IDS: Final = msgspec.json.Decoder(_SearchByIds)
_EVENT: Final = msgspec.json.Decoder(Event)
_BATCH: Final = msgspec.json.Decoder(EventBatch)
_KEYS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _text_id(value: str, where: str) -> str:
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise RequestError(where, f"must not contain control or format characters, got {bad!r}")
    if value.isspace():
        raise RequestError(where, "must not be only whitespace")
    return value


class _NamedDecoders:
    """Decoders of searches whose candidates name the same features, one per name set lately
    seen (at most :data:`_NAME_SETS`, the most recent tried first). Each decodes a candidate's
    features into a struct whose fields are the names, in that order: no key string or dict is
    built per candidate, and the values come in the set's order whatever each candidate's.
    A missing or extra name fails it, for the general decoder to say what is wrong."""

    def __init__(self) -> None:
        self._by_names: dict[tuple[str, ...], msgspec.json.Decoder[Any]] = {}

    def decode(self, raw: bytes) -> tuple[SearchBody, list[int | str], FeatureTable] | None:
        for names, decoder in reversed(list(self._by_names.items())):
            try:
                body = decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                continue
            if body.features is not None:
                return None  # both forms at once: the general path names the error
            astuple = msgspec.structs.astuple
            values = np.asarray([astuple(c.features) for c in body.candidates], np.float32)
            return body, [c.id for c in body.candidates], FeatureTable(values, names)
        return None

    def learn(self, names: tuple[str, ...]) -> None:
        if names in self._by_names:
            self._by_names[names] = self._by_names.pop(names)  # the most recent last
            return
        fields = [f"f{j}" for j in range(len(names))]
        row = msgspec.defstruct(
            "NamedRow",
            [(f, Feature) for f in fields],
            rename=dict(zip(fields, names, strict=True)),
            forbid_unknown_fields=True,
        )
        candidate = msgspec.defstruct(
            "NamedCandidate", [("id", ItemId), ("features", row)], forbid_unknown_fields=True
        )
        candidates: Any = Annotated[list[candidate], Meta(min_length=1, max_length=MAX_CANDIDATES)]  # type: ignore[valid-type]
        body = msgspec.defstruct(
            "SearchByNames",
            [("candidates", candidates)],
            bases=(SearchBody,),
            forbid_unknown_fields=True,
        )
        self._by_names[names] = msgspec.json.Decoder(body)
        while len(self._by_names) > _NAME_SETS:
            del self._by_names[next(iter(self._by_names))]


_NAME_SETS: Final = 4
_NAMED: Final = _NamedDecoders()


def parse_search(raw: bytes) -> SearchRequest:
    """A search body (JSON bytes), decoded and validated in one pass, then the cross-field
    rules."""
    features = None
    try:
        body: SearchBody = _SEARCH_BY_IDS.decode(raw)
        items: list[int | str] = body.candidates  # type: ignore[assignment]
        if body.features is not None:
            features = _columns(body.features, len(items))
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        named = _NAMED.decode(raw)
        if named is not None:
            body, items, features = named
        else:
            body, items, features = _general(raw)
    _unique(items)
    for key, value in body.context.items():
        if isinstance(value, dict | list) and nesting_depth(value) > MAX_CONTEXT_DEPTH:
            raise RequestError(f"$.context.{key}", f"nested more than {MAX_CONTEXT_DEPTH} levels")
    return SearchRequest(
        user_id=_text_id(body.user_id, "$.user_id"),
        query=body.query,
        candidates=items,
        k=body.k,
        context=body.context,
        features=features,
    )


def _general(raw: bytes) -> tuple[SearchBody, list[int | str], FeatureTable]:
    """Candidates with features (or a bad body): the documented type names what is wrong."""
    try:
        body = _SEARCH.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise _named_feature(request_error(exc), raw) from None
    if not isinstance(body.candidates[0], Candidate):
        bad = next(i for i, c in enumerate(body.candidates) if isinstance(c, Candidate))
        raise RequestError(f"$.candidates[{bad}]", "expected an item id like the first") from None
    if body.features is not None:
        raise RequestError(
            "$.features",
            "features come either with each candidate or as columns beside plain ids, not both",
        ) from None
    items, features = _featured(body.candidates)
    if features.names is not None:
        _NAMED.learn(features.names)
    return body, items, features


_FEATURE_AT: Final = re.compile(r"^\$(\.candidates\[(\d+)\])?\.features\[\.\.\.\](.*)$")


def _named_feature(error: RequestError, raw: bytes) -> RequestError:
    """msgspec names a dict's value ``[...]``: for a named feature, put its name there."""
    match = _FEATURE_AT.match(error.where)
    if match is None:
        return error
    try:
        body = json.loads(raw)  # not orjson: it refuses 1e400, which may be the bad part
        features = (
            body["candidates"][int(match.group(2))]["features"]
            if match.group(1)
            else body["features"]
        )
    except (LookupError, TypeError, ValueError, RecursionError):
        return error
    if not isinstance(features, dict):
        return error
    column = not match.group(1)
    for name, value in features.items():
        if column and not match.group(3):
            bad = not isinstance(value, list)
        elif column:
            bad = not isinstance(value, list) or not all(_feature_number(v) for v in value)
        else:
            bad = not _feature_number(value)
        if bad:
            where = f"$.candidates[{match.group(2)}]" if match.group(1) else "$"
            return RequestError(f"{where}.features.{name}{match.group(3)}", error.detail)
    return error


def _feature_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= 3e38
    )


def _unique(items: list[int | str]) -> None:
    if len(set(items)) != len(items):
        raise RequestError("$.candidates", "item ids must be unique")
    if any(type(i) is str for i in items):
        for i, item in enumerate(items):
            if type(item) is str:
                _text_id(item, f"$.candidates[{i}]")
        if len({str(i) for i in items}) != len(items):
            raise RequestError(
                "$.candidates", 'item ids must be unique (12 and "12" are the same item)'
            )


def _names(names: tuple[str, ...], where: str) -> tuple[str, ...]:
    for name in names:
        _text_id(name, f"{where}.{name}")
    return names


def _columns(columns: dict[str, list[float]], count: int) -> FeatureTable:
    for name, column in columns.items():
        if len(column) != count:
            raise RequestError(
                f"$.features.{name}",
                f"expected {count} numbers, one per candidate, got {len(column)}",
            )
    names = _names(tuple(columns), "$.features")
    values = np.asarray(list(columns.values()), dtype=np.float32).T
    return FeatureTable(np.ascontiguousarray(values), names)


def _featured(candidates: list[int | str | Candidate]) -> tuple[list[int | str], FeatureTable]:
    items: list[int | str] = []
    for i, c in enumerate(candidates):
        if not isinstance(c, Candidate):
            raise RequestError(
                f"$.candidates[{i}]", "expected an {id, features} object like the first"
            )
        items.append(c.id)
    first = candidates[0].features  # type: ignore[union-attr]
    if isinstance(first, dict):
        return items, _named_rows(candidates)  # type: ignore[arg-type]
    width = len(first)
    rows: list[list[float]] = []
    for i, c in enumerate(candidates):
        f = c.features  # type: ignore[union-attr]
        if not isinstance(f, list):
            raise RequestError(
                f"$.candidates[{i}].features", "expected an array of numbers like the first"
            )
        if len(f) != width:
            raise RequestError(
                f"$.candidates[{i}].features",
                f"expected {width} numbers like the first candidate, got {len(f)}",
            )
        rows.append(f)
    return items, FeatureTable(np.asarray(rows, dtype=np.float32))


def _named_rows(candidates: list[Candidate]) -> FeatureTable:
    """One row per candidate; every candidate names the same features (in any order)."""
    first = candidates[0].features
    assert isinstance(first, dict)
    names = _names(tuple(first), "$.candidates[0].features")
    key_list = list(first)
    rows: list[list[float]] = []
    for i, c in enumerate(candidates):
        f = c.features
        if not isinstance(f, dict):
            raise RequestError(
                f"$.candidates[{i}].features", "expected named features like the first"
            )
        if list(f) == key_list:  # the usual case: the same order as the first
            rows.append(list(f.values()))
            continue
        missing = [n for n in names if n not in f]
        if missing:
            raise RequestError(
                f"$.candidates[{i}].features.{missing[0]}",
                "missing: every candidate carries the same features as the first",
            )
        extra = [n for n in f if n not in first]
        if extra:
            raise RequestError(
                f"$.candidates[{i}].features.{extra[0]}",
                "not on the first candidate: every candidate carries the same features",
            )
        rows.append([f[n] for n in names])
    return FeatureTable(np.asarray(rows, dtype=np.float32), names)


def _outcome(event: Event, where: str, now: float) -> OutcomeRecord:
    if event.search_id is None and event.type != "purchase":
        raise RequestError(
            f"{where}.search_id",
            "is required for a click or add-to-cart: send the search_id its search was "
            "answered with (only a purchase, at checkout, may omit it)",
        )
    sid = event.search_id
    return OutcomeRecord(
        event_id=_text_id(event.event_id, f"{where}.event_id"),
        type=event.type,
        search_id="" if sid is None else _text_id(sid, f"{where}.search_id"),
        user_id=_text_id(event.user_id, f"{where}.user_id"),
        item_id=event.item_id,
        position=event.position,
        value=event.value,
        ts=now if event.ts is None else event.ts,
    )


def parse_outcomes(raw: bytes, now: float) -> list[tuple[str, OutcomeRecord]]:
    """One event object, or ``{"events": [...]}`` (JSON bytes); all-or-nothing. Each event with
    its JSON path (``$`` or ``$.events[i]``), for the checks that follow."""
    try:
        keys = _KEYS.decode(raw)
        if "events" in keys:
            batch = _BATCH.decode(raw)
            paths = [f"$.events[{i}]" for i in range(len(batch.events))]
            return [(at, _outcome(e, at, now)) for at, e in zip(paths, batch.events, strict=True)]
        return [("$", _outcome(_EVENT.decode(raw), "$", now))]
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise request_error(exc) from None
