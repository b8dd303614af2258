"""Stream entries as gateways write them, for the worker's tests."""

from __future__ import annotations

from typing import Any

import orjson


def exposure(sid: str, user: str, variant: str = "a", experiment: str = "x") -> dict[Any, Any]:
    """The fields of one exposure entry: search ``sid`` by ``user`` in ``experiment``'s
    ``variant``."""
    event = {
        "event_id": sid,
        "search_id": sid,
        "user_id": user,
        "assignments": [{"experiment": experiment, "variant": variant, "model_version": "m"}],
    }
    return {"e": orjson.dumps(event)}


def outcome(
    eid: str, sid: str, kind: str = "click", value: float = 0.0, position: int = 0
) -> dict[Any, Any]:
    """The fields of one outcome entry (the worker joins on ``sid``; the user comes from it)."""
    event = {
        "event_id": eid,
        "search_id": sid,
        "user_id": "u",
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
) -> dict[Any, Any]:
    """The fields of one exposure entry of an interleaved page."""
    event = {
        "event_id": sid,
        "search_id": sid,
        "user_id": user,
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


def item_outcome(eid: str, sid: str, item: int, kind: str = "click") -> dict[Any, Any]:
    """An outcome on one item of the search's page."""
    event = {"event_id": eid, "search_id": sid, "user_id": "u", "type": kind, "item_id": item}
    return {"e": orjson.dumps(event)}
