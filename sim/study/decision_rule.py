"""The whole decision rule on simulated experiments, taken by the worker's own pure
evaluation (:func:`gateway.worker.evaluate.evaluate`, record after record, its carried state
included): the A/A false-positive rate of success, guardrail and deterioration tests together,
and the time-to-decision forecast against the realised decision time.

Each simulated user brings every quantity of the metric catalogue (searches, clicks, searches
with a click, reciprocal ranks, DCG, add-to-carts, a purchase and its revenue, pre-exposure
purchases and revenue), so every catalogue metric is estimated and tested from the same
integer sums the scripts keep (:meth:`gateway.catalogue.quantities.Catalogue.expected_sums`'
rule, vectorised). Users are split between two arms by a fair coin; the worker looks once per
simulated hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.catalogue.quantities import CATALOGUE, USERS
from gateway.config import Experiment, parse_experiment
from gateway.records import EvaluationRecord
from gateway.worker.evaluate import evaluate

BASE_CONVERSION = 0.2
MDE = 0.2  # the planned effect, relative (the experiment's mde)
PER_LOOK = 250  # users per arm and look, on average
LOOKS = 80
LOOK_S = 3600.0
ACTIONS = ("promote", "rollback", "stop-arms")
# (A/A runs, runs at the planned effect) in the full and the quick study
REPS = ((400, 200), (6, 4))
CHUNK = 8


def experiment() -> Experiment:
    """Two arms, conversion as the success metric, a revenue guardrail (5 %), deterioration
    tests on every other metric, decided as soon as the data allow."""
    return parse_experiment(
        {
            "key": "rule",
            "min_units_per_arm": 200,
            "min_runtime_s": 0,
            "mde": MDE,
            "guardrails": [{"metric": "revenue_per_user", "margin": 0.05}],
            "variants": [
                {"name": "control", "model_version": "a", "weight": 0.5},
                {"name": "treatment", "model_version": "b", "weight": 0.5},
            ],
        },
        "rule",
    )


def users(rng: np.random.Generator, n: int, lift: float) -> dict[str, np.ndarray]:
    """Per-user values of every catalogue quantity; ``lift`` raises purchase conversion."""
    searches = 1 + rng.poisson(2.0, n)
    clicked = rng.binomial(searches, 0.55)
    clicks = clicked + rng.poisson(0.3 * clicked)
    converters = (rng.random(n) < BASE_CONVERSION * (1 + lift)).astype(np.int64)
    pre = rng.poisson(0.3, n)
    values = {
        "searches": searches,
        "clicked_searches": clicked,
        "clicks": clicks,
        "rr": clicked * rng.integers(200, 1001, n),
        "dcg": clicked * rng.integers(300, 1001, n),
        "rrc": clicks * rng.integers(100, 1001, n),
        "carts": rng.binomial(clicks, 0.15),
        "converters": converters,
        "purchases": converters * (1 + rng.poisson(0.2, n)),
        "revenue_cents": converters * np.round(rng.lognormal(3.5, 1.0, n) * 100).astype(np.int64),
        "pre_purchases": pre,
        "pre_revenue": pre * rng.integers(10, 80, n),
    }
    return {k: np.asarray(v, dtype=np.int64) for k, v in values.items()}


def contributions(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each user's contribution to each sum an arm keeps (the catalogue's rule of sums)."""
    n = len(next(iter(values.values())))
    out = {USERS: np.ones(n, dtype=np.int64)}
    for q in CATALOGUE.quantities:
        x = values[q.name]
        out[q.name] = x
        if q.square:
            out[q.square] = x * x
    for c in CATALOGUE.crosses:
        out[c.sum_name] = values[c.x] * values[c.y]
    return out


@dataclass(frozen=True)
class RuleRun:
    action: str  # the first action taken, or "continue" to the last look
    look: int  # when (LOOKS when none)
    units: int  # total users then
    forecast: float | None  # units_to_conclude, the first time it was forecast
    forecast_units: int  # total users when it was forecast


def play(seed: int, lift: float) -> RuleRun:
    """One experiment, look after look, until the worker's rule acts."""
    rng = np.random.default_rng(seed)
    exp = experiment()
    total = 2 * PER_LOOK * LOOKS
    arm = rng.random(total) < 0.5  # True: treatment
    n_c, n_t = int((~arm).sum()), int(arm.sum())
    sums = {
        name: {k: np.cumsum(v) for k, v in contributions(users(rng, n, lift_)).items()}
        for name, n, lift_ in (("control", n_c, 0.0), ("treatment", n_t, lift))
    }
    seen_c = np.cumsum(~arm)
    previous: EvaluationRecord | None = None
    forecast, forecast_units = None, 0
    for look in range(1, LOOKS + 1):
        upto = look * 2 * PER_LOOK
        counts = {"control": int(seen_c[upto - 1]), "treatment": upto - int(seen_c[upto - 1])}
        stats = {
            name: {k: int(v[counts[name] - 1]) if counts[name] else 0 for k, v in cum.items()}
            for name, cum in sums.items()
        }
        record = evaluate(exp, stats, look * LOOK_S, previous)
        ttd = record.time_to_decision
        if forecast is None and ttd is not None and ttd.units_to_conclude is not None:
            forecast, forecast_units = ttd.units_to_conclude, upto
        if record.decision.action in ACTIONS:
            return RuleRun(record.decision.action, look, upto, forecast, forecast_units)
        previous = record
    return RuleRun("continue", LOOKS, 2 * PER_LOOK * LOOKS, forecast, forecast_units)


def play_many(seed: int, lift: float, reps: int) -> list[RuleRun]:
    return [play(seed + i, lift) for i in range(reps)]


def section(aa: Sequence[RuleRun], effect: Sequence[RuleRun], alpha: float) -> list[str]:
    """The report's section, with its verdicts."""
    n = len(aa)
    false = sum(r.action in ACTIONS for r in aa)
    promoted = sum(r.action == "promote" for r in aa)
    rate = false / n
    se = math.sqrt(alpha * (1 - alpha) / n)
    ratios = sorted(
        (r.units / r.forecast if r.action == "promote" else math.inf) for r in effect if r.forecast
    )
    median = ratios[len(ratios) // 2] if ratios else math.nan
    won = sum(r.action == "promote" for r in effect)
    lines = [
        "## The whole decision rule (success + guardrail + deterioration), as the worker takes it",
        "",
        f"`gateway.worker.evaluate.evaluate`, look after look with its carried state, on "
        f"simulated users carrying every catalogue quantity: conversion {BASE_CONVERSION:.0%}, "
        f"planned effect (mde) {MDE:.0%}, a revenue-per-user guardrail (margin 5 %), "
        f"deterioration tests on the other {len(CATALOGUE.quantities) - 2} metrics' worth of "
        f"sums; ~{PER_LOOK} users per arm an hour, {LOOKS} looks.",
        "",
        "| runs | any action (promote, rollback, stop-arms) | promotions | "
        "realised / forecast users (median) | promoted |",
        "|---|---|---|---|---|",
        f"| A/A, {n} | {rate:.3f} ± {math.sqrt(rate * (1 - rate) / n):.3f} | {promoted} | – | – |",
        f"| +{MDE:.0%} conversion, {len(effect)} | – | – | {median:.2f} "
        f"({len(ratios)} forecast) | {won} |",
        "",
        f"- A/A: the whole rule acts falsely in {rate:.3f} of runs; target ≤ α + 2 SE = "
        f"{alpha + 2 * se:.3f}: **{'holds' if rate <= alpha + 2 * se else 'FAILS'}**.",
        f"- Time to decision: the median of realised over forecast users is {median:.2f}; "
        f"target 0.7–1.4: **{'holds' if 0.7 <= median <= 1.4 else 'FAILS'}** (the forecast is "
        "the first one made, as soon as N* is planned; a run that never promotes counts as "
        "infinitely late).",
    ]
    return lines
