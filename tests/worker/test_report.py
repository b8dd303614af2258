"""Every metric, every arm, and the time to a decision, as evaluate() writes them."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.catalogue.metrics import METRICS
from gateway.catalogue.quantities import CATALOGUE
from gateway.config import parse_experiment
from gateway.records import EvaluationRecord
from gateway.worker.evaluate import evaluate

BASE = {
    "key": "exp",
    "min_units_per_arm": 100,
    "min_runtime_s": 0,
    "guardrails": [{"metric": "revenue_per_user", "margin": 0.05}],
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.5},
        {"name": "candidate", "model_version": "b", "weight": 0.5},
    ],
}


def _users(n: int, buy: float, rng: np.random.Generator, abandon: float = 0.4) -> dict[str, int]:
    """An arm's sums from simulated users (the catalogue's rule of sums)."""
    searches = 1 + rng.poisson(2, n)
    clicked = rng.binomial(searches, 1 - abandon)
    clicks = clicked + rng.poisson(0.2, n)
    converted = (rng.random(n) < buy).astype(int)
    users = [
        {
            "searches": int(s),
            "clicked_searches": int(c),
            "clicks": int(k),
            "rr": int(c) * 600,
            "dcg": int(c) * 700,
            "rrc": int(k) * 550,
            "carts": int(c) // 2,
            "converters": int(b),
            "revenue_cents": int(b) * 2500,
        }
        for s, c, k, b in zip(searches, clicked, clicks, converted, strict=True)
    ]
    return CATALOGUE.expected_sums(users)


def test_every_metric_has_each_arms_value_and_each_treatments_lift() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(5)
    stats = {"control": _users(4000, 0.30, rng), "candidate": _users(4000, 0.36, rng)}
    record = evaluate(experiment, stats, 3600)
    by_metric = {m.metric: m for m in record.metrics}
    assert list(by_metric) == [m.name for m in METRICS]
    conv = by_metric["purchase_conversion"]
    assert conv.role == "success" and conv.direction == "higher" and conv.unit == "share"
    control, candidate = conv.arms
    assert control.variant == "control" and control.n == 4000 == control.users
    assert control.value == pytest.approx(stats["control"]["converters"] / 4000)
    (lift,) = conv.lifts
    assert lift.test == "superiority" and lift.significant and not lift.harm
    assert candidate.value is not None and control.value is not None
    assert lift.lift == pytest.approx(candidate.value / control.value - 1)
    assert lift.ci_low is not None and lift.ci_high is not None and lift.ci_low > 0
    assert lift.lift == pytest.approx(record.arms[0].effect.estimate)  # what was decided on
    guard = by_metric["revenue_per_user"]
    assert guard.role == "guardrail" and guard.lifts[0].test == "non-inferiority"
    assert guard.lifts[0].margin == 0.05 and guard.lifts[0].ci_low is None  # one-sided
    abandon = by_metric["abandonment_rate"]
    assert abandon.role == "deterioration" and abandon.direction == "lower"
    assert abandon.lifts[0].test == "deterioration" and abandon.lifts[0].ci_high is None
    ctr = by_metric["click_through_rate"]
    assert ctr.per == "search" and ctr.arms[0].n == stats["control"]["searches"]
    assert record.decision.rule == "success" and record.decision.action == "promote"
    # the record round-trips through its JSON (what the API serves)
    again = EvaluationRecord.from_json(record.encode())
    assert again.metrics == record.metrics and again.time_to_decision == record.time_to_decision
    assert again.decision.rule == "success"


def test_a_winner_that_raises_abandonment_is_not_promoted() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(6)
    stats = {
        "control": _users(6000, 0.30, rng, abandon=0.3),
        "candidate": _users(6000, 0.37, rng, abandon=0.5),
    }
    record = evaluate(experiment, stats, 3600)
    assert record.decision.action == "continue"
    assert record.decision.rule == "deterioration"
    assert any("abandonment_rate" in r for r in record.decision.reasons)
    harmed = {m.metric for m in record.metrics for lift in m.lifts if lift.harm}
    assert "abandonment_rate" in harmed
    off = parse_experiment(BASE | {"deterioration": False}, "e")
    assert evaluate(off, stats, 3600).decision.action == "promote"
    assert {m.role for m in evaluate(off, stats, 3600).metrics} == {
        "success", "guardrail", "monitor"
    }  # fmt: skip


def test_time_to_decision_counts_down_and_reads_in_days() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(7)
    stats = {"control": _users(300, 0.30, rng), "candidate": _users(300, 0.30, rng)}
    first = evaluate(experiment, stats, 86_400 / 4)  # 600 users in a quarter day
    ttd = first.time_to_decision
    assert ttd is not None and ttd.tuning_units == first.tuning_units
    assert ttd.units == 600 and ttd.effect == 0.05
    assert ttd.units_per_day == pytest.approx(2400)
    assert ttd.units_to_conclude is not None and ttd.units_needed is not None
    assert ttd.units_needed == pytest.approx(ttd.units_to_conclude - 600)
    assert ttd.days_left == pytest.approx(ttd.units_needed / 2400)
    early = evaluate(experiment, stats, 60)  # no rate from a minute
    assert early.time_to_decision is not None and early.time_to_decision.days_left is None
    few = {"control": _users(50, 0.3, rng), "candidate": _users(50, 0.3, rng)}
    unplanned = evaluate(experiment, few, 600).time_to_decision
    assert unplanned is not None and unplanned.units_needed is None  # not planned yet


def test_the_funnel_has_each_steps_conversion_and_lift() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(8)

    def users(n: int, cart: float) -> dict[str, int]:
        clicks = rng.poisson(2.0, n)
        carts = rng.binomial(clicks, cart)
        bought = rng.binomial(carts, 0.5)
        return CATALOGUE.expected_sums(
            [
                {
                    "searches": 3,
                    "clicked_searches": min(int(c), 3),
                    "clicks": int(c),
                    "carts": int(k),
                    "purchases": int(b),
                    "converters": int(b > 0),
                }
                for c, k, b in zip(clicks, carts, bought, strict=True)
            ]
        )

    stats = {"control": users(3000, 0.2), "candidate": users(3000, 0.3)}
    record = evaluate(experiment, stats, 3600)
    steps = {s.step: s for s in record.funnel}
    assert list(steps) == ["search → click", "click → add-to-cart", "add-to-cart → purchase"]
    cart = steps["click → add-to-cart"]
    assert cart.arms[0].value == pytest.approx(
        stats["control"]["carts"] / stats["control"]["clicks"]
    )
    assert cart.arms[0].n == stats["control"]["clicks"]
    (lift,) = cart.lifts
    assert lift.ci_low is not None and lift.ci_low > 0.1 and lift.significant  # +50 % carts/click
    buy = steps["add-to-cart → purchase"].lifts[0]
    assert buy.ci_low is not None and buy.ci_high is not None and buy.ci_low < 0 < buy.ci_high
