"""The lift chart: one point per evaluation and arm, carrying the values it was drawn from;
infinite interval ends drawn to the edge; phase changes and ramp steps marked; text escaped."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from gateway.dashboard.chart import (
    HEIGHT,
    MARGIN,
    MAX_TIME_TICKS,
    Mark,
    _nice_ticks,
    chart_marks,
    lift_chart,
    time_ticks,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def _f(node: ET.Element, name: str) -> float:
    return float(node.get(name) or "nan")


def _point(
    ts: float, phase: int, arms: list[tuple[str, float, float | None, float | None]]
) -> dict:
    return {
        "ts": ts,
        "phase": phase,
        "arms": [
            {"variant": v, "scale": "relative", "estimate": e, "ci_low": lo, "ci_high": hi}
            for v, e, lo, hi in arms
        ],
    }


def test_points_intervals_and_phases() -> None:
    points = [
        _point(100.0, 0, [("cand", 0.10, None, None), ("worse", -0.2, None, None)]),
        _point(102.0, 0, [("cand", 0.05, -0.3, 0.4), ("worse", -0.1, -0.5, 0.3)]),
        _point(104.0, 1, [("cand", 0.04, -0.01, 0.09), ("worse", -0.08, -0.12, -0.04)]),
    ]
    svg = ET.fromstring(lift_chart(points, "t"))
    circles = svg.findall(".//s:circle[@class='point']", NS)
    assert len(circles) == 6
    cand = [c for c in circles if c.get("data-arm") == "cand"]
    assert [_f(c, "data-ts") for c in cand] == [100.0, 102.0, 104.0]
    assert [_f(c, "data-estimate") for c in cand] == [0.10, 0.05, 0.04]
    assert cand[0].get("data-ci-low") == "" and cand[2].get("data-ci-high") == "0.09"
    # Later points share the scale: the point at +4 % lies above the zero line, -8 % below.
    zero = [line for line in svg.findall(".//s:line", NS) if line.get("stroke") == "#888"]
    assert len(zero) == 1
    y0 = _f(zero[0], "y1")
    assert _f(cand[2], "cy") < y0
    worse = [c for c in circles if c.get("data-arm") == "worse"]
    assert _f(worse[2], "cy") > y0
    # An infinite interval end reaches the plot's edge.
    band = svg.find(".//s:polygon[@data-arm='cand']", NS)
    ys = [float(p.split(",")[1]) for p in band.get("points").split()]
    assert min(ys) == MARGIN[0] and max(ys) == HEIGHT - MARGIN[2]
    assert len(svg.findall(".//s:line[@class='phase']", NS)) == 1


def test_empty_history_and_escaping() -> None:
    assert "no evaluations yet" in lift_chart([])
    svg = lift_chart([_point(1.0, 0, [("<b>&", 0.1, 0.0, 0.2)])], 'a"b')
    assert "<b>&" not in svg and "&lt;b&gt;&amp;" in svg
    ET.fromstring(svg)  # well-formed


def test_nice_ticks() -> None:
    assert _nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    ticks = _nice_ticks(-0.13, 0.27)
    assert all(math.isclose(b - a, 0.1) for a, b in itertools.pairwise(ticks))
    assert _nice_ticks(1.0, 1.0) == [1.0]


def _labels(span_s: float) -> list[str]:
    return [label for _, label in time_ticks(span_s)]


def test_time_ticks_short_and_long_spans() -> None:
    # The labels the issue found repeated ("0 s 0 s 1 s 2 s 2 s") over a 2.5 s run.
    assert _labels(2.5) == ["0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s"]
    assert _labels(1.0) == ["0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1 s"]
    assert _labels(45) == ["0 s", "10 s", "20 s", "30 s", "40 s"]
    assert _labels(300) == ["0 min", "1 min", "2 min", "3 min", "4 min", "5 min"]
    assert _labels(5000) == ["0 min", "15 min", "30 min", "45 min", "60 min", "75 min"]
    assert _labels(86400) == ["0 h", "6 h", "12 h", "18 h", "24 h"]
    assert _labels(30 * 86400) == ["0 d", "7 d", "14 d", "21 d", "28 d"]
    assert _labels(0.0) == ["0 s"]


def test_time_ticks_are_distinct_round_and_within_the_span_at_any_span() -> None:
    span = 1.0
    while span < 10 * 365 * 86400:
        ticks = time_ticks(span)
        labels = [label for _, label in ticks]
        assert len(set(labels)) == len(labels), (span, labels)
        assert 2 <= len(ticks) <= MAX_TIME_TICKS, (span, labels)
        offsets = [offset for offset, _ in ticks]
        assert offsets[0] == 0.0 and offsets[-1] <= span * (1 + 1e-9), (span, offsets)
        steps = {round(b - a, 6) for a, b in itertools.pairwise(offsets)}
        assert len(steps) == 1, (span, offsets)  # evenly spaced
        # Each label is a round number of its unit: whole, or tenths of a second.
        for label in labels:
            value, unit = label.split(" ")
            assert unit in ("s", "min", "h", "d")
            assert value == str(int(float(value))) or (unit == "s" and len(value) == 3)
        span *= 1.37


def test_the_chart_draws_the_time_ticks() -> None:
    points = [_point(100.0 + 0.5 * i, 0, [("cand", 0.01, -0.1, 0.1)]) for i in range(6)]
    svg = ET.fromstring(lift_chart(points))
    drawn = [t.text for t in svg.findall(".//s:text[@class='time-tick']", NS)]
    assert drawn == ["0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s"]


def _coverage(ts: float, key: str, old: float | None, new: float | None) -> dict:
    return {"ts": ts, "diff": [{"path": f"experiments[{key!r}].coverage", "old": old, "new": new}]}


def test_marks_phase_starts_and_ramp_steps() -> None:
    phases = [
        {"weights": [0.5, 0.5], "started_at": 90.0},
        {"weights": [0.9, 0.1], "started_at": 103.0},
    ]
    audit = [
        _coverage(101.0, "better", 0.05, 0.25),
        _coverage(102.0, "other", 0.25, 0.5),  # another experiment's
        {"ts": 102.5, "diff": [{"path": "experiments['better'].status", "old": "running",
                                "new": "paused"}]},
        _coverage(80.0, "better", None, 0.05),  # created: no step
        _coverage(105.5, "better", 0.25, 1.0),
        {"ts": 106.0, "diff": []},
    ]  # fmt: skip
    marks = chart_marks([], phases, audit, "better")
    assert marks == [
        Mark(101.0, "ramp", "ramp 25 %"),
        Mark(103.0, "phase", "phase 1"),
        Mark(105.5, "ramp", "ramp 100 %"),
    ]
    # Without the phases' start times: where the points' phase changes.
    points = [_point(100.0, 0, []), _point(104.0, 1, []), _point(106.0, 2, [])]
    assert chart_marks(points) == [Mark(104.0, "phase", "phase 1"), Mark(106.0, "phase", "phase 2")]


def test_the_chart_draws_the_marks_within_its_span() -> None:
    points = [_point(100.0 + i, 0, [("cand", 0.01, -0.1, 0.1)]) for i in range(7)]
    marks = [Mark(99.0, "ramp", "ramp 5 %"), Mark(101.0, "ramp", "ramp 25 %"),
             Mark(103.0, "phase", "phase 1"), Mark(104.5, "ramp", "ramp <100> %")]  # fmt: skip
    svg = ET.fromstring(lift_chart(points, marks=marks))
    lines = svg.findall(".//s:line[@data-label]", NS)
    assert [(line.get("class"), line.get("data-label"), _f(line, "data-ts")) for line in lines] == [
        ("ramp", "ramp 25 %", 101.0),
        ("phase", "phase 1", 103.0),
        ("ramp", "ramp <100> %", 104.5),  # escaped in the SVG, read back as written
    ]
    labels = [t.text for t in svg.findall(".//s:text[@class='mark-label']", NS)]
    assert labels == ["ramp 25 %", "phase 1", "ramp <100> %"]
    # Drawn where they happen: 1/6 and 1/2 of the way along the plot.
    left, width = MARGIN[3], 760 - MARGIN[3] - MARGIN[1]
    assert _f(lines[0], "x1") == pytest.approx(left + width / 6, abs=0.1)
    assert _f(lines[1], "x1") == pytest.approx(left + width / 2, abs=0.1)
