"""The lift of each arm with its always-valid interval over time, as an SVG document.

Pure: points in (as :meth:`gateway.records.EvaluationRecord.point` writes them), text out.
Each evaluation of each arm is one ``<circle class="point">`` carrying its time, arm, lift
and interval as data attributes, so a reader (or a browser test) can check what is drawn
against the history it came from. An interval end that is still infinite (the first looks of
a confidence sequence) is drawn to the edge of the plot.

Phase changes (new weights re-randomise) and ramp steps (coverage changes) are vertical marks
labelled ``phase 2`` or ``ramp 25 %`` (:func:`chart_marks`: from the experiment's phases and
its audit trail).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Final, Literal

WIDTH: Final = 760
HEIGHT: Final = 320
MARGIN: Final = (16, 20, 36, 64)  # top, right, bottom, left
COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MARK_COLOURS: Final = {"phase": "#777", "ramp": "#b86e00"}


@dataclass(frozen=True)
class Mark:
    """A moment drawn across the chart: a phase change or a ramp step, with its label."""

    ts: float
    kind: Literal["phase", "ramp"]
    label: str


def chart_marks(
    points: Sequence[Mapping[str, Any]],
    phases: Sequence[Mapping[str, Any]] = (),
    audit: Sequence[Mapping[str, Any]] = (),
    key: str = "",
) -> list[Mark]:
    """The phase changes and ramp steps of experiment ``key``, oldest first.

    A phase starts at its ``started_at`` (the experiment's ``phases``, as the API writes them;
    phase 0 is the start, not marked); without them (a bandit, whose periods are not phases,
    or a config seeded from a file), where the points' phase changes. A ramp step is an audit
    entry that changes the experiment's coverage (the worker's ramp schedule or a person's
    ``abgate experiments ramp``), labelled with the new coverage."""
    marks: list[Mark] = []
    started = [(i, p.get("started_at")) for i, p in enumerate(phases)]
    if any(i > 0 and isinstance(ts, int | float) for i, ts in started):
        marks += [
            Mark(float(ts), "phase", f"phase {i}")
            for i, ts in started
            if i > 0 and isinstance(ts, int | float)
        ]
    else:
        marks += [
            Mark(float(after["ts"]), "phase", f"phase {int(after['phase'])}")
            for before, after in itertools.pairwise(points)
            if after.get("phase") != before.get("phase")
        ]
    coverage = f"experiments[{key!r}].coverage"
    for entry in audit:
        ts = entry.get("ts")
        for change in entry.get("diff") or ():
            new = change.get("new")
            if (
                change.get("path") == coverage
                and isinstance(ts, int | float)
                and isinstance(new, int | float)
                and isinstance(change.get("old"), int | float)
            ):
                marks.append(Mark(float(ts), "ramp", f"ramp {new * 100:g} %"))
    return sorted(marks, key=lambda m: m.ts)


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _y_range(points: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Every estimate, and the interval ends of the later half of the run (the first looks'
    intervals are too wide to share a scale with the rest); zero always shown."""
    values = [0.0]
    later = points[len(points) // 2 :]
    for p in points:
        for arm in p.get("arms", []):
            if (e := _finite(arm.get("estimate"))) is not None:
                values.append(e)
    for p in later:
        for arm in p.get("arms", []):
            for end in ("ci_low", "ci_high"):
                if (v := _finite(arm.get(end))) is not None:
                    values.append(v)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.01
    return lo - pad, hi + pad


def lift_chart(
    points: Sequence[dict[str, Any]], title: str = "", marks: Sequence[Mark] | None = None
) -> str:
    """The chart of ``points``; ``marks`` (default: the phase changes between the points) drawn
    where they fall within the points' time span."""
    top, right, bottom, left = MARGIN
    plot_w, plot_h = WIDTH - left - right, HEIGHT - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lift-chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title or "lift over time")}" data-points="{len(points)}">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#666">'
            "no evaluations yet</text></svg>"
        )
        return "".join(parts)
    t0 = float(points[0]["ts"])
    t1 = max(float(points[-1]["ts"]), t0 + 1.0)
    y_lo, y_hi = _y_range(points)

    def x(ts: float) -> float:
        return left + (ts - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        v = min(max(v, y_lo), y_hi)
        return top + (y_hi - v) / (y_hi - y_lo) * plot_h

    relative = any(a.get("scale") == "relative" for p in points for a in p.get("arms", []))
    for tick in _nice_ticks(y_lo, y_hi):
        label = f"{tick * 100:+.1f}%" if relative else f"{tick:+.3g}"
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{"#888" if abs(tick) < 1e-12 else "#e5e5e5"}"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#444">{label}</text>'
        )
    for tick, label in time_ticks(t1 - t0):
        parts.append(
            f'<text class="time-tick" x="{x(t0 + tick):.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle" font-size="11" fill="#444">{label}</text>'
        )
    # Phase changes and ramp steps: a dashed line where each one happens, labelled.
    for mark in chart_marks(points) if marks is None else marks:
        if not t0 <= mark.ts <= t1:
            continue
        px = x(mark.ts)
        label_y = top + (12 if mark.kind == "phase" else 24)
        parts.append(
            f'<line class="{mark.kind}" data-ts="{mark.ts:.3f}" data-label="{escape(mark.label)}" '
            f'x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{MARK_COLOURS[mark.kind]}" stroke-dasharray="4 3"/>'
            f'<text class="mark-label" x="{px + 3:.1f}" y="{label_y}" font-size="10" '
            f'fill="{MARK_COLOURS[mark.kind]}">{escape(mark.label)}</text>'
        )
    arms = sorted({a["variant"] for p in points for a in p.get("arms", [])})
    for i, arm in enumerate(arms):
        colour = COLOURS[i % len(COLOURS)]
        series = [
            (float(p["ts"]), a) for p in points for a in p.get("arms", []) if a["variant"] == arm
        ]
        band_top = [(x(ts), y(_finite(a.get("ci_high")) or y_hi)) for ts, a in series]
        band_bottom = [(x(ts), y(_finite(a.get("ci_low")) or y_lo)) for ts, a in series]
        polygon = " ".join(f"{px:.1f},{py:.1f}" for px, py in band_top + band_bottom[::-1])
        parts.append(
            f'<polygon class="interval" data-arm="{escape(arm)}" points="{polygon}" '
            f'fill="{colour}" fill-opacity="0.12" stroke="none"/>'
        )
        line = " ".join(f"{x(ts):.1f},{y(float(a['estimate'])):.1f}" for ts, a in series)
        parts.append(
            f'<polyline class="lift" data-arm="{escape(arm)}" points="{line}" fill="none" '
            f'stroke="{colour}" stroke-width="1.6"/>'
        )
        for ts, a in series:
            lo, hi = _finite(a.get("ci_low")), _finite(a.get("ci_high"))
            parts.append(
                f'<circle class="point" data-arm="{escape(arm)}" data-ts="{ts:.3f}" '
                f'data-estimate="{float(a["estimate"]):.6g}" '
                f'data-ci-low="{"" if lo is None else f"{lo:.6g}"}" '
                f'data-ci-high="{"" if hi is None else f"{hi:.6g}"}" '
                f'cx="{x(ts):.1f}" cy="{y(float(a["estimate"])):.1f}" r="2.4" fill="{colour}">'
                f"<title>{escape(arm)}: {_label(a, relative)}</title></circle>"
            )
        parts.append(
            f'<text x="{left + 8 + 150 * i}" y="{HEIGHT - 4}" font-size="12" fill="{colour}">'
            f"\u25a0 {escape(arm)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _label(arm: dict[str, Any], relative: bool) -> str:
    def fmt(v: float | None) -> str:
        if v is None:
            return "∞"
        return f"{v * 100:+.2f}%" if relative else f"{v:+.4g}"

    est = _finite(arm.get("estimate"))
    return f"{fmt(est)} [{fmt(_finite(arm.get('ci_low')))}, {fmt(_finite(arm.get('ci_high')))}]"


# Steps a time axis may take, in seconds, each with the unit its labels are written in: a
# step is a round number of that unit, so every tick (a multiple of the step) is too.
TIME_STEPS: Final = (
    *((step, "s", 1.0) for step in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)),
    *((step * 60.0, "min", 60.0) for step in (1, 2, 5, 10, 15, 30)),
    *((step * 3600.0, "h", 3600.0) for step in (1, 2, 3, 6, 12)),
    *((step * 86400.0, "d", 86400.0) for step in (1, 2, 7, 14, 30, 60, 90, 180, 365)),
)
MAX_TIME_TICKS: Final = 7


def time_ticks(span_s: float, most: int = MAX_TIME_TICKS) -> list[tuple[float, str]]:
    """Ticks for a time axis from 0 to ``span_s`` seconds: ``(offset_s, label)`` pairs, at most
    ``most`` of them, on the smallest round step (seconds, then minutes, hours, days) that
    fits. Labels are distinct: each is a whole number of the step's unit, or of tenths of a
    second below one second."""
    if not math.isfinite(span_s) or span_s <= 0:
        return [(0.0, "0 s")]
    fits = [s for s in TIME_STEPS if span_s / s[0] <= most - 1]
    if fits:
        step, unit, scale = fits[0]
    else:  # beyond the longest step: whole multiples of it
        longest, unit, scale = TIME_STEPS[-1]
        step = longest * math.ceil(span_s / longest / (most - 1))
    ticks = []
    for i in range(int(span_s / step + 1e-9) + 1):
        value = f"{i * step / scale:.1f}".removesuffix(".0")
        ticks.append((i * step, f"{value} {unit}"))
    return ticks
