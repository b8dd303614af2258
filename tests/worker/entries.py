"""Stream entries as gateways write them, for the worker's tests."""

from __future__ import annotations

from typing import Any

import orjson


def exposure(
    sid: str,
    user: str,
    variant: str = "a",
    experiment: str = "x",
    items: list[int] | None = None,
    ts: float = 0.0,
    phase: int = 0,
    segments: str = "",
) -> dict[Any, Any]:
    """The fields of one exposure entry: search ``sid`` by ``user`` at ``ts`` in
    ``experiment``'s ``variant`` (showing ``items``, if given)."""
    assignment = {"experiment": experiment, "variant": variant, "model_version": "m"}
    event: dict[str, Any] = {
        "event_id": sid,
        "search_id": sid,
        "user_id": user,
        "ts": ts,
        "assignments": [assignment | {"phase": phase}],
    }
    if items is not None:
        event["items"] = items
    if segments:
        event["segments"] = segments
    return {"e": orjson.dumps(event)}


def checkout(
    eid: str, user: str, value: float, ts: float, item: int | str = "SKU-1"
) -> dict[Any, Any]:
    """A purchase at checkout: no search id (the gateway writes ``""``)."""
    event = {
        "event_id": eid,
        "search_id": "",
        "user_id": user,
        "type": "purchase",
        "item_id": item,
        "value": value,
        "ts": ts,
    }
    return {"e": orjson.dumps(event)}


def outcome(
    eid: str,
    sid: str,
    kind: str = "click",
    value: float = 0.0,
    position: int = 0,
    user: str = "u",
) -> dict[Any, Any]:
    """The fields of one outcome entry by ``user`` on search ``sid`` (the search's user, or the
    worker dead-letters it)."""
    event = {
        "event_id": eid,
        "search_id": sid,
        "user_id": user,
        "type": kind,
        "value": value,
        "position": position,
    }
    return {"e": orjson.dumps(event)}


def interleaved_exposure(
    sid: str,
    user: str,
    items: list[int],
    teams: list[int],
    competitive: list[bool],
    versions: int = 2,
    experiment: str = "il",
    credit: str = "click",
    ts: float = 0.0,
) -> dict[Any, Any]:
    """The fields of one exposure entry of an interleaved page."""
    event = {
        "event_id": sid,
        "search_id": sid,
        "user_id": user,
        "ts": ts,
        "model_version": "interleaved",
        "assignments": [{"experiment": experiment, "variant": "interleaved", "model_version": "m"}],
        "items": items,
        "interleaving": {
            "seed": 1,
            "versions": [f"m{i}" for i in range(versions)],
            "teams": teams,
            "competitive": competitive,
            "credit": credit,
        },
    }
    return {"e": orjson.dumps(event)}


def item_outcome(
    eid: str, sid: str, item: int, kind: str = "click", user: str = "u", value: float = 0.0
) -> dict[Any, Any]:
    """An outcome by ``user`` on one item of the search's page."""
    event = {
        "event_id": eid,
        "search_id": sid,
        "user_id": user,
        "type": kind,
        "item_id": item,
        "value": value,
    }
    return {"e": orjson.dumps(event)}
