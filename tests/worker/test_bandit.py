"""The worker's bandit pass, pure part: rewards from the integer sums, and the record."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import parse_experiment
from gateway.worker.bandit import evaluate_bandit, reward_estimate
from stats.effects import ratio_estimate
from stats.sufficient import PairStats

EXPERIMENT = {
    "key": "b",
    "kind": "bandit",
    "status": "running",
    "min_units_per_arm": 50,
    "min_runtime_s": 100,
    "bandit": {"reward": "click", "floor": 0.1, "burn_in_units": 100, "update_every_s": 10},
    "variants": [
        {"name": "a", "model_version": "x", "weight": 0.5},
        {"name": "b", "model_version": "y", "weight": 0.5},
    ],
}


def _row(users: int, click_rate: float, rng: np.random.Generator) -> dict[str, int]:
    searches = 1 + rng.poisson(2, users)
    clicks = rng.binomial(searches, click_rate)
    cents = np.where(rng.random(users) < 0.1, rng.integers(100, 9000, users), 0)
    return {
        "users": users,
        "searches": int(searches.sum()),
        "searches_sq": int((searches**2).sum()),
        "clicks": int(clicks.sum()),
        "clicks_sq": int((clicks**2).sum()),
        "clicks_x_searches": int((clicks * searches).sum()),
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents**2).sum()),
        "revenue_x_searches": int((cents * searches).sum()),
        "converters": int((cents > 0).sum()),
    }


def test_revenue_per_search_is_the_delta_method_ratio_in_currency_units() -> None:
    rng = np.random.default_rng(3)
    searches = 1 + rng.poisson(2, 400)
    cents = np.where(rng.random(400) < 0.2, rng.integers(100, 9000, 400), 0)
    row = {
        "users": 400,
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents**2).sum()),
        "searches": int(searches.sum()),
        "searches_sq": int((searches**2).sum()),
        "revenue_x_searches": int((cents * searches).sum()),
    }
    got = reward_estimate("revenue_per_search", row)
    want = ratio_estimate(PairStats.of(list(cents / 100), list(searches.astype(float))))
    assert got.mean == pytest.approx(want.mean, rel=1e-9)
    assert got.variance == pytest.approx(want.variance, rel=1e-6)
    assert reward_estimate("click", {"users": 0}).n == 0


def test_a_pass_reweights_on_its_cadence_and_records_why() -> None:
    rng = np.random.default_rng(4)
    experiment = parse_experiment(EXPERIMENT, "experiment")
    periods = [((0.5, 0.5), {"a": _row(300, 0.20, rng), "b": _row(300, 0.30, rng)})]
    record, weights = evaluate_bandit(experiment, periods, runtime_s=30.0, now=1e9)
    assert weights is not None and weights[1] > weights[0] >= 0.1
    assert record.decision.action == "continue"
    assert record.decision.blocked_by == ("min_runtime",)
    assert record.decision.reasons[-1] == "re-weighting by thompson-gaussian"
    # past the minimum runtime the same data call the winner
    record, weights = evaluate_bandit(experiment, periods, runtime_s=120.0, now=1e9)
    assert (record.decision.action, record.decision.winner, weights) == ("promote", "b", None)
    state = record.state or {}
    assert set(state["p_best"]) == {"a", "b"} and state["p_best"]["b"] > 0.9
    assert record.units == {"a": 300, "b": 300} and record.srm_p_value == pytest.approx(1.0)
    assert record.method == "bandit:thompson" and record.metric == "click"
