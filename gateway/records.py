"""Typed records at the process boundaries: what a gateway writes to the event streams and the
worker reads back. One definition of each field, encoded and decoded here only, so that the
gateway, the worker and the tests cannot read a field by a misspelt name.

Decoding is strict about the fields the worker acts on (a wrong type or a missing one raises
:class:`RecordError` naming it, and the worker moves the entry to the dead-letter stream) and
lenient about the rest, which older gateways may not have written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import orjson

OutcomeType = Literal["click", "add_to_cart", "purchase"]
OUTCOME_TYPES: Final = ("click", "add_to_cart", "purchase")


class RecordError(ValueError):
    """A stream entry that is not a record this version writes; the message names the field."""


def _object(raw: bytes | dict[str, Any]) -> dict[str, Any]:
    data = orjson.loads(raw) if isinstance(raw, bytes | bytearray | str) else raw
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _str(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a string, got {value!r}")
    return value


def _number(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _int(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: expected an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class AssignmentRecord:
    experiment: str
    variant: str
    model_version: str

    def to_json(self) -> dict[str, str]:
        return {
            "experiment": self.experiment,
            "variant": self.variant,
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class ExposureRecord:
    """One search served: who, by which version, in which experiment arms, what was shown."""

    event_id: str
    search_id: str
    user_id: str
    ts: float = 0.0
    config_version: int = 0
    model_version: str = ""
    assignments: tuple[AssignmentRecord, ...] = ()
    items: tuple[int, ...] = ()

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "type": "exposure",
                "search_id": self.search_id,
                "user_id": self.user_id,
                "ts": self.ts,
                "config_version": self.config_version,
                "model_version": self.model_version,
                "assignments": [a.to_json() for a in self.assignments],
                "items": list(self.items),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | dict[str, Any]) -> ExposureRecord:
        data = _object(raw)
        assignments = data.get("assignments", [])
        if not isinstance(assignments, list):
            raise RecordError(f"assignments: expected a list, got {assignments!r}")
        parsed = []
        for i, a in enumerate(assignments):
            if not isinstance(a, dict):
                raise RecordError(f"assignments[{i}]: expected an object, got {a!r}")
            parsed.append(
                AssignmentRecord(
                    _str(a, "experiment"), _str(a, "variant"), _str(a, "model_version", "")
                )
            )
        items = data.get("items", [])
        if not isinstance(items, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in items
        ):
            raise RecordError(f"items: expected a list of item ids, got {items!r}")
        return cls(
            event_id=_str(data, "event_id"),
            search_id=_str(data, "search_id"),
            user_id=_str(data, "user_id"),
            ts=_number(data, "ts", 0.0),
            config_version=_int(data, "config_version", 0),
            model_version=_str(data, "model_version", ""),
            assignments=tuple(parsed),
            items=tuple(items),
        )


@dataclass(frozen=True)
class OutcomeRecord:
    """What a shopper did after a search: a click, an add-to-cart or a purchase."""

    event_id: str
    type: OutcomeType
    search_id: str
    user_id: str
    item_id: int = 0
    position: int = 0
    value: float = 0.0
    ts: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "type": self.type,
                "search_id": self.search_id,
                "user_id": self.user_id,
                "item_id": self.item_id,
                "position": self.position,
                "value": self.value,
                "ts": self.ts,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | dict[str, Any]) -> OutcomeRecord:
        data = _object(raw)
        kind = data.get("type")
        if kind not in OUTCOME_TYPES:
            raise RecordError(f"type: expected one of {list(OUTCOME_TYPES)}, got {kind!r}")
        return cls(
            event_id=_str(data, "event_id"),
            type=cast(OutcomeType, kind),
            search_id=_str(data, "search_id"),
            user_id=_str(data, "user_id", ""),
            item_id=_int(data, "item_id", 0),
            position=_int(data, "position", 0),
            value=_number(data, "value", 0.0),
            ts=_number(data, "ts", 0.0),
        )
