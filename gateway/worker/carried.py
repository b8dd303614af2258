"""What an evaluation carries to the next one, as JSON in the stored record.

The running minima and intersections of :mod:`stats.analysis` live in the
record (``state``, by variant), and a group-sequential test's boundary
recursion as of its last look (``boundaries``: a restarted worker takes the
next look from it in one step). JSON has no infinity or NaN, so an open end of
an interval, or an estimate not taken yet, is stored as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stats.analysis import ArmState, Running
from stats.group_sequential import Checkpoint, Spending


def _end(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _running_json(r: Running) -> dict[str, Any]:
    return {
        "p_min": r.p_min,
        "relative": r.relative,
        "intervals": [[level, _end(low), _end(high)] for level, (low, high) in r.intervals.items()],
        "crossed_look": r.crossed_look,
        "crossed_sign": r.crossed_sign,
        "estimate": _end(r.estimate),
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
        estimate=math.nan if data.get("estimate") is None else float(data["estimate"]),
    )


def state_to_json(state: Mapping[str, ArmState]) -> dict[str, Any]:
    return {
        variant: {
            "primary": _running_json(arm.primary),
            "guardrails": {m: _running_json(r) for m, r in arm.guardrails.items()},
            "deterioration": {m: _running_json(r) for m, r in arm.deterioration.items()},
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
            {m: _running(r) for m, r in arm.get("deterioration", {}).items()},
        )
    return out


def boundaries_to_json(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    if checkpoint is None:
        return None
    return {
        "looks": checkpoint.looks,
        "alpha": checkpoint.alpha,
        "spending": checkpoint.spending,
        "look": checkpoint.look,
        "boundary": checkpoint.boundary,
        "spent": checkpoint.spent,
        "density": list(checkpoint.density),
    }


def boundaries_from_json(data: Mapping[str, Any] | None) -> Checkpoint | None:
    """The carried recursion; None (computed afresh) for a record without a readable one."""
    if not data:
        return None
    try:
        spending: Spending = "pocock" if data["spending"] == "pocock" else "obrien-fleming"
        if data["spending"] != spending:
            return None
        return Checkpoint(
            looks=int(data["looks"]),
            alpha=float(data["alpha"]),
            spending=spending,
            look=int(data["look"]),
            boundary=float(data["boundary"]),
            spent=float(data["spent"]),
            density=tuple(float(x) for x in data["density"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
