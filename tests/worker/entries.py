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


def outcome(eid: str, sid: str, kind: str = "click", value: float = 0.0) -> dict[Any, Any]:
    """The fields of one outcome entry (the worker joins on ``sid``; the user comes from it)."""
    event = {"event_id": eid, "search_id": sid, "user_id": "u", "type": kind, "value": value}
    return {"e": orjson.dumps(event)}
