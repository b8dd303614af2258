"""``abgate holdout show``'s text, from GET /v1/holdout answers."""

from __future__ import annotations

import msgspec

from gateway.cli_holdout import holdout_text
from gateway.config.holdout import Holdout
from gateway.worker.holdout import holdout_report

T0 = 1_765_000_000.0
HOLDOUT = Holdout("old-v0", 0.05, T0)
HISTORY = [
    {"from": "old-v0", "to": "mid-v1", "actor": "carol", "reason": "by hand", "ts": T0 + 100}
]


def _answer(report: bool) -> dict[str, object]:
    config = {
        "version": "old-v0",
        "share": 0.05,
        "started_at": T0,
        "ends_at": None,
        "ended_at": None,
        "seed": "",
        "attribution_window_s": 604800.0,
        "stats_id": HOLDOUT.stats_id,
        "active": True,
    }
    stats = {
        "holdout": {"users": 1000, "converters": 100},
        "rest": {"users": 19000, "converters": 2850},
    }
    made = holdout_report(HOLDOUT, stats, HISTORY, "mid-v1", T0 + 200)
    answer = {"holdout": config, "report": msgspec.to_builtins(made) if report else None}
    return answer


def test_no_holdout_says_how_to_begin_one() -> None:
    assert "abgate holdout set" in holdout_text({"holdout": None, "report": None})


def test_a_holdout_without_a_report_says_so() -> None:
    text = holdout_text(_answer(report=False))
    assert text.startswith("holdout holdout~1765000000: 5 % of users on old-v0 since")
    assert "no report yet" in text


def test_the_report_shows_the_summary_each_metric_and_the_moves() -> None:
    lines = holdout_text(_answer(report=True)).splitlines()
    assert lines[1].startswith("cumulative lift of 1 promotion since 2025-12-06: ")
    assert lines[2].startswith("users: holdout 1000, rest 19000")
    row = next(line for line in lines if line.startswith("purchase_conversion"))
    assert "0.1 (n 1000)" in row and "0.15 (n 19000)" in row and "+50.0 %" in row
    assert row.rstrip().endswith("yes")
    assert any(line.startswith("abandonment_rate (lower is better)") for line in lines)
    assert "production moves since it began: 1" in lines
    assert any("old-v0" in line and "mid-v1" in line and "carol" in line for line in lines)
