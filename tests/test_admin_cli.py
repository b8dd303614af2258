"""The CLI's terminal summary of an experiment, for an A/B test and an interleaved one."""

from __future__ import annotations

from gateway.admin_cli import summary
from gateway.config import parse_routing
from gateway.config.encode import experiment_to_dict
from gateway.interleave.decide import parse_sums
from gateway.records import ArmResult, DecisionRecord, Estimate, EvaluationRecord
from gateway.worker.interleaving import evaluate_interleaving


def test_an_ab_summary_shows_each_arm() -> None:
    record = EvaluationRecord(
        "better", 0.0, "purchase_conversion", 0.05, 60.0,
        DecisionRecord("continue", None, ("waiting",)),
        units={"control": 500, "candidate": 510}, srm_p_value=0.7,
        arms=(ArmResult("candidate", 510, True, Estimate(0.12, 0.02, 0.25, 0.01), 0.01, None, True),),
    )  # fmt: skip
    text = summary({"key": "better", "status": "running", "last_evaluation": record.to_json()})
    assert "candidate: lift +0.120 [+0.020, +0.250], p=0.01  significant" in text
    assert "decision: continue: waiting" in text


def test_an_interleaved_summary_shows_the_pairs_and_the_order() -> None:
    config = parse_routing(
        {
            "production": "prod-v1",
            "experiments": [
                {
                    "key": "il",
                    "kind": "interleaving",
                    "min_runtime_s": 0,
                    "variants": [
                        {"name": "production", "model_version": "prod-v1"},
                        {"name": "candidate", "model_version": "cand-v2"},
                    ],
                }
            ],
        }
    )
    (il,) = config.experiments
    sums = parse_sums(
        2, {"searches": 20, "slots": 200, "competitive": 150, "0-1:pos": 0, "0-1:neg": 10,
            "0-1:won": 3, "0-1:lost": 12}
    )  # fmt: skip
    record = evaluate_interleaving(il, sums, 25, 30.0)
    text = summary(experiment_to_dict(il) | {"last_evaluation": record.to_json()})
    assert "20 interleaved searches, 0 users settled, 200 slots, competitive 75.0%" in text
    assert "most preferred first: candidate > production" in text
    assert "production vs candidate: 0 users prefer production, 10 candidate" in text
    assert "(searches won 3-12), p=0.0107  significant" in text
    assert "decision: promote: users prefer candidate" in text
