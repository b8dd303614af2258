"""The holdout's report from its arms' sums: each metric by the worker's own estimators, the
rest's lift over the holdout with its always-valid interval, the production moves since."""

from __future__ import annotations

import math

import msgspec

from gateway.config.holdout import Holdout
from gateway.holdout_report import HoldoutReport
from gateway.worker.evaluate import arm_metrics
from gateway.worker.holdout import holdout_report, promotions_since

T0 = 1_765_000_000.0  # 2025-12-06
HOLDOUT = Holdout("old-v0", 0.05, T0)


def _row(users: int, converters: int) -> dict[str, int]:
    return {"users": users, "converters": converters}


HISTORY = [  # newest first, as GET /v1/production gives it
    {
        "from": "mid-v1",
        "to": "new-v2",
        "actor": "decision-loop",
        "reason": "won",
        "experiment": "ranker-v2",
        "ts": T0 + 200,
    },
    {"from": "old-v0", "to": "mid-v1", "actor": "carol", "reason": "by hand", "ts": T0 + 100},
    {"from": "x", "to": "old-v0", "actor": "carol", "reason": "before it", "ts": T0 - 1},
]


def test_each_metric_is_the_workers_estimate_and_the_lift_is_rest_over_holdout() -> None:
    stats = {"holdout": _row(1000, 100), "rest": _row(19000, 2850)}
    report = holdout_report(HOLDOUT, stats, HISTORY, "new-v2", T0 + 300)
    conversion = next(m for m in report.metrics if m.metric == "purchase_conversion")
    expected = {a: arm_metrics(stats[a])["purchase_conversion"] for a in ("holdout", "rest")}
    for arm in conversion.arms:
        assert arm.value == expected[arm.variant].mean and arm.n == expected[arm.variant].n
        assert arm.std_error == math.sqrt(expected[arm.variant].variance)
    lift = conversion.lift
    assert lift.scale == "relative" and math.isclose(lift.lift or 0, 0.5)
    assert lift.ci_low is not None and lift.ci_high is not None
    assert lift.ci_low < 0.5 < lift.ci_high and lift.significant and lift.p_value < 0.05
    assert {m.metric for m in report.metrics} == set(arm_metrics(stats["rest"]))
    assert report.users == {"holdout": 1000, "rest": 19000}
    assert report.summary.startswith(
        "cumulative lift of 2 promotions since 2025-12-06: purchase_conversion +50.0 % ["
    )
    # The stored form decodes with the type GET /v1/holdout documents.
    assert msgspec.json.decode(msgspec.json.encode(report), type=HoldoutReport) == report


def test_no_users_yet_reports_nothing_measured() -> None:
    report = holdout_report(HOLDOUT, {}, [], "old-v0", T0 + 1)
    conversion = next(m for m in report.metrics if m.metric == "purchase_conversion")
    assert conversion.lift.lift is None and conversion.lift.significant is False
    assert "not measured yet" in report.summary and report.promotions == []


def test_promotions_are_the_moves_within_the_holdout_oldest_first() -> None:
    moves = promotions_since(HOLDOUT, HISTORY)
    assert [(p.from_, p.to) for p in moves] == [("old-v0", "mid-v1"), ("mid-v1", "new-v2")]
    assert moves[1].experiment == "ranker-v2"
    ended = Holdout("old-v0", 0.05, T0, ended_at=T0 + 150)
    assert [p.to for p in promotions_since(ended, HISTORY)] == ["mid-v1"]
    assert b'"from":"old-v0"' in msgspec.json.encode(moves[0])
