"""Differential-impact alerts on A/A experiments: how often does any segment of ten raise one,
over every look of the experiment, when no segment differs? Taken by the worker's own pure
function (:func:`gateway.segment_report.segment_results`) on simulated sums, look after look;
the stated rates are 0.05 (weak) and 0.01 (strong) per experiment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.catalogue.quantities import CATALOGUE, USERS
from gateway.segment_report import STRONG, WEAK, segment_results

SEGMENTS = 10
PER_LOOK = 400  # users per arm and look, on average
LOOKS = 40
BUY = 0.2
TUNING = 20_000.0  # N*, as a planned experiment of this size would have
MIN_UNITS = 100
REPS = (400, 6)  # full, quick
CHUNK = 25
VARIANTS = (("control", 0.5), ("treatment", 0.5))


@dataclass(frozen=True)
class AlertRun:
    weak: bool  # any alert at any look
    strong: bool


def play(seed: int) -> AlertRun:
    rng = np.random.default_rng(seed)
    total = 2 * PER_LOOK * LOOKS
    arm = rng.random(total) < 0.5
    segment = rng.integers(0, SEGMENTS, total)
    converted = (rng.random(total) < BUY).astype(np.int64)
    searches = 1 + rng.poisson(1.0, total)
    weak = strong = False
    for look in range(1, LOOKS + 1):
        upto = look * 2 * PER_LOOK
        totals, segments = {}, {}
        for name, mask in (("control", ~arm[:upto]), ("treatment", arm[:upto])):
            c, s, g = converted[:upto][mask], searches[:upto][mask], segment[:upto][mask]
            totals[name] = _sums(c, s)
            segments[name] = {("s", f"v{k}"): _sums(c[g == k], s[g == k]) for k in range(SEGMENTS)}
        _, alerts = segment_results(
            VARIANTS, totals, segments, "purchase_conversion", 0.05, TUNING, MIN_UNITS
        )
        weak = weak or any(a.kind == "segment" for a in alerts)
        strong = strong or any(a.kind == "segment" and a.level == "strong" for a in alerts)
    return AlertRun(weak, strong)


def _sums(converted: np.ndarray, searches: np.ndarray) -> dict[str, int]:
    out = dict.fromkeys(CATALOGUE.sum_names, 0)
    out[USERS] = len(converted)
    out["converters"] = int(converted.sum())
    out["searches"] = int(searches.sum())
    out["searches_sq"] = int((searches * searches).sum())
    return out


def play_many(seed: int, reps: int) -> list[AlertRun]:
    return [play(seed + i) for i in range(reps)]


def section(runs: Sequence[AlertRun]) -> list[str]:
    n = len(runs)
    weak = sum(r.weak for r in runs) / n
    strong = sum(r.strong for r in runs) / n

    def se(p: float) -> float:
        return math.sqrt(p * (1 - p) / n)

    ok_weak = weak <= WEAK + 2 * se(WEAK)
    ok_strong = strong <= STRONG + 2 * se(STRONG)
    return [
        "## Differential-impact alerts on A/A experiments",
        "",
        f"`gateway.segment_report.segment_results` at every one of {LOOKS} looks, "
        f"{SEGMENTS} segments of one dimension, ~{PER_LOOK} users per arm a look, conversion "
        f"{BUY:.0%} everywhere (no segment differs); a run counts once if any segment alerts "
        "at any look.",
        "",
        "| runs | any weak-or-strong alert (stated 0.05) | any strong alert (stated 0.01) |",
        "|---|---|---|",
        f"| {n} | {weak:.3f} ± {se(weak):.3f} | {strong:.3f} ± {se(strong):.3f} |",
        "",
        f"- Weak alerts: **{'hold' if ok_weak else 'FAIL'}** (≤ 0.05 + 2 SE); strong alerts: "
        f"**{'hold' if ok_strong else 'FAIL'}** (≤ 0.01 + 2 SE). The tests are always valid "
        "(a normal mixture at N*), so looking at every evaluation costs nothing.",
    ]
