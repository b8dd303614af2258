"""The worker's pure evaluation: integer sums to estimates, plan from config, carried state."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import parse_experiment
from gateway.worker.evaluate import arm_metrics, evaluate

BASE = {
    "key": "exp",
    "min_units_per_arm": 100,
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.5},
        {"name": "candidate", "model_version": "b", "weight": 0.5},
    ],
}


def _row(users: int, converters: int, rng: np.random.Generator) -> dict[str, int]:
    searches = 1 + rng.poisson(2, users)
    clicks = rng.binomial(searches, 0.3)
    cents = np.zeros(users, dtype=np.int64)
    cents[:converters] = rng.integers(500, 20000, converters)
    return {
        "users": users,
        "converters": converters,
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents * cents).sum()),
        "searches": int(searches.sum()),
        "searches_sq": int((searches * searches).sum()),
        "clicks": int(clicks.sum()),
        "clicks_sq": int((clicks * clicks).sum()),
        "clicks_x_searches": int((clicks * searches).sum()),
    }


def test_arm_metrics_from_integer_sums_match_per_user_data() -> None:
    rng = np.random.default_rng(2)
    searches = 1 + rng.poisson(2, 500)
    clicks = rng.binomial(searches, 0.3)
    cents = rng.integers(0, 10_000, 500)
    row = {
        "users": 500,
        "converters": 120,
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents * cents).sum()),
        "searches": int(searches.sum()),
        "searches_sq": int((searches**2).sum()),
        "clicks": int(clicks.sum()),
        "clicks_sq": int((clicks**2).sum()),
        "clicks_x_searches": int((clicks * searches).sum()),
    }
    metrics = arm_metrics(row)
    assert metrics["purchase_conversion"].mean == pytest.approx(0.24)
    assert metrics["revenue_per_user"].mean == pytest.approx(cents.mean() / 100)
    assert metrics["revenue_per_user"].variance == pytest.approx((cents / 100).var(ddof=1) / 500)
    ratio = clicks.sum() / searches.sum()
    linear = (clicks - ratio * searches) / searches.mean()
    assert metrics["click_through_rate"].mean == pytest.approx(ratio)
    assert metrics["click_through_rate"].variance == pytest.approx(linear.var(ddof=1) / 500)


def test_tuning_is_fixed_once_and_carried() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(1)
    small = {"control": _row(50, 10, rng), "candidate": _row(50, 12, rng)}
    waiting = evaluate(experiment, small, 10)
    assert waiting["tuning_units"] is None and waiting["decision"]["action"] == "continue"
    stats = {"control": _row(2000, 400, rng), "candidate": _row(2000, 420, rng)}
    first = evaluate(experiment, stats, 10)
    assert first["method"] == "confidence-sequence" and first["tuning_units"] > 4000
    again = evaluate(experiment, stats, 20, previous={"tuning_units": 12345.0})
    assert again["tuning_units"] == 12345.0


def test_planned_horizon_uses_group_sequential_and_max_runtime_stops() -> None:
    experiment = parse_experiment(
        BASE | {"horizon_units_per_arm": 10_000, "looks": 10, "max_runtime_s": 600}, "e"
    )
    rng = np.random.default_rng(3)
    stats = {"control": _row(3000, 600, rng), "candidate": _row(3000, 600, rng)}
    record = evaluate(experiment, stats, 60, previous={"look": 1})
    assert record["method"] == "group-sequential" and record["look"] == 3
    assert record["tuning_units"] == 20_000
    expired = evaluate(experiment, stats, 601, previous={"look": 3})
    assert expired["decision"]["action"] == "stop-inconclusive"


def test_guardrail_results_are_reported() -> None:
    experiment = parse_experiment(
        BASE | {"guardrails": [{"metric": "click_through_rate", "margin": 0.02}]}, "e"
    )
    rng = np.random.default_rng(4)
    stats = {"control": _row(3000, 600, rng), "candidate": _row(3000, 610, rng)}
    record = evaluate(experiment, stats, 60)
    guard = record["arms"][0]["guardrails"][0]
    assert guard["metric"] == "click_through_rate" and guard["breached"] is False
