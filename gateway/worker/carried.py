"""What an evaluation carries to the next one, as JSON in the stored record.

The running minima and intersections of :mod:`stats.analysis` live in the
record (``state``, by variant). JSON has no infinity, so an open end of an
interval is stored as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stats.analysis import ArmState, Running


def _end(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _running_json(r: Running) -> dict[str, Any]:
    return {
        "p_min": r.p_min,
        "relative": r.relative,
        "intervals": [[level, _end(low), _end(high)] for level, (low, high) in r.intervals.items()],
        "crossed_look": r.crossed_look,
        "crossed_sign": r.crossed_sign,
    }


def _running(data: Mapping[str, Any]) -> Running:
    intervals = {
        float(level): (
            -math.inf if low is None else float(low),
            math.inf if high is None else float(high),
        )
        for level, low, high in data.get("intervals", [])
    }
    return Running(
        p_min=float(data.get("p_min", 1.0)),
        relative=bool(data.get("relative", True)),
        intervals=intervals,
        crossed_look=int(data.get("crossed_look", 0)),
        crossed_sign=int(data.get("crossed_sign", 0)),
    )


def state_to_json(state: Mapping[str, ArmState]) -> dict[str, Any]:
    return {
        variant: {
            "primary": _running_json(arm.primary),
            "guardrails": {m: _running_json(r) for m, r in arm.guardrails.items()},
        }
        for variant, arm in state.items()
    }


def state_from_json(data: Mapping[str, Any] | None) -> dict[str, ArmState]:
    """The carried state of a stored record; a record without one starts afresh."""
    out = {}
    for variant, arm in (data or {}).items():
        out[variant] = ArmState(
            _running(arm.get("primary", {})),
            {m: _running(r) for m, r in arm.get("guardrails", {}).items()},
        )
    return out
