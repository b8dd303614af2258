"""Pre-exposure bias and event health, and what they do to a decision."""

from __future__ import annotations

import numpy as np

from gateway.catalogue.quantities import CATALOGUE
from gateway.config import parse_experiment
from gateway.worker.evaluate import evaluate
from gateway.worker.quality import event_health, pre_exposure_bias

NAMES = ["control", "candidate"]


def _row(rng: np.random.Generator, n: int, buy: float, ctr: float, pre: float = 0.3) -> dict:
    searches = 1 + rng.poisson(2, n)
    clicks = rng.binomial(searches, ctr)
    converted = rng.random(n) < buy
    history = rng.poisson(pre, n)
    users = [
        {"searches": int(s), "clicks": int(c), "clicked_searches": int(min(c, s)),
         "converters": int(b), "pre_purchases": int(h)}
        for s, c, b, h in zip(searches, clicks, converted, history, strict=True)
    ]  # fmt: skip
    return CATALOGUE.expected_sums(users)


def test_arms_that_differed_before_exposure_are_flagged() -> None:
    rng = np.random.default_rng(1)
    alike = {"control": _row(rng, 3000, 0.3, 0.3), "candidate": _row(rng, 3000, 0.3, 0.3)}
    assert pre_exposure_bias(NAMES, alike) == ()
    biased = {"control": _row(rng, 3000, 0.3, 0.3), "candidate": _row(rng, 3000, 0.3, 0.3, 0.5)}
    (alert,) = pre_exposure_bias(NAMES, biased)
    assert alert.kind == "pre_exposure_bias" and alert.p_value is not None
    assert alert.p_value < 0.001 and not alert.blocks


def test_an_arm_whose_events_stop_blocks_its_promotion() -> None:
    rng = np.random.default_rng(2)
    # the candidate's page sends almost no clicks, while checkout purchases still arrive
    stats = {"control": _row(rng, 4000, 0.30, 0.3), "candidate": _row(rng, 4000, 0.40, 0.02)}
    (alert,) = event_health(NAMES, stats)
    assert alert.kind == "event_health" and alert.blocks
    experiment = parse_experiment(
        {
            "key": "e",
            "min_units_per_arm": 100,
            "min_runtime_s": 0,
            "deterioration": False,
            "variants": [
                {"name": "control", "model_version": "a", "weight": 0.5},
                {"name": "candidate", "model_version": "b", "weight": 0.5},
            ],
        },
        "e",
    )
    record = evaluate(experiment, stats, 3600)
    assert record.decision.action == "continue" and record.decision.rule == "event_health"
    assert "event_health" in record.decision.blocked_by
    assert any("stopped sending events" in r for r in record.decision.reasons)
    assert record.alerts == (alert,)
    healthy = {"control": stats["control"], "candidate": _row(rng, 4000, 0.40, 0.3)}
    assert evaluate(experiment, healthy, 3600).decision.action == "promote"
