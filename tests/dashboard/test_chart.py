"""The lift chart: one point per evaluation and arm, carrying the values it was drawn from;
infinite interval ends drawn to the edge; phases marked; text escaped."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

from gateway.dashboard.chart import HEIGHT, MARGIN, _nice_ticks, lift_chart

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
