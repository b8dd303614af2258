"""``abgate experiments show``'s text from hand-made API answers in the evaluation record's
shape: every metric of every arm with its value, count, lift and interval, p-value, test and
role; the search funnel, step by step; time to a decision or why it is not known; each arm's
operational health; and what an experiment with no evaluation, a bandit or an interleaved one
has."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cli_results import (
    duration,
    funnel_over,
    funnel_rows,
    lift_text,
    metric_rows,
    ops_table,
    show,
    time_to_decision,
    value_text,
)

CONVERSION: dict[str, Any] = {
    "metric": "purchase_conversion",
    "label": "purchase conversion",
    "role": "success",
    "direction": "higher",
    "unit": "share",
    "per": "user",
    "arms": [
        {"variant": "control", "value": 0.383, "n": 1364, "std_error": 0.013},
        {"variant": "candidate", "value": 0.523, "n": 1353, "std_error": 0.014},
    ],
    "lifts": [
        {"variant": "candidate", "scale": "relative", "lift": 0.366, "ci_low": 0.201,
         "ci_high": 0.5, "p_value": 0.0004, "test": "superiority", "margin": None,
         "significant": True},
    ],
}  # fmt: skip
ABANDONMENT: dict[str, Any] = {
    "metric": "abandonment",
    "label": "search abandonment",
    "role": "guardrail",
    "direction": "lower",
    "unit": "share",
    "per": "search",
    "arms": [
        {"variant": "control", "value": 0.2, "n": 5000, "std_error": 0.005},
        {"variant": "candidate", "value": 0.21, "n": 5100, "std_error": 0.005},
    ],
    "lifts": [
        {"variant": "candidate", "scale": "absolute", "lift": 0.01, "ci_low": None,
         "ci_high": 0.025, "p_value": 0.2, "test": "non-inferiority", "margin": 0.02,
         "significant": False},
    ],
}  # fmt: skip
REVENUE: dict[str, Any] = {
    "metric": "revenue_per_user",
    "label": "revenue per user",
    "role": "monitor",
    "direction": "higher",
    "unit": "currency",
    "per": "user",
    "arms": [
        {"variant": "control", "value": 12.345, "n": 1364, "std_error": 0.4},
        {"variant": "candidate", "value": 13.5, "n": 1353, "std_error": 0.4},
    ],
    "lifts": [
        {"variant": "candidate", "scale": "absolute", "lift": 1.155, "ci_low": -0.5,
         "ci_high": 2.81, "p_value": 0.31, "test": "none", "margin": None, "significant": False},
    ],
}  # fmt: skip
OPS: list[dict[str, Any]] = [
    {"variant": "control", "requests": 1200, "errors": 3, "error_rate": 0.0025, "p50_ms": 4.1,
     "p99_ms": 12.0, "latency": None},
    {"variant": "candidate", "requests": 1190, "errors": 0, "error_rate": 0.0, "p50_ms": 4.4,
     "p99_ms": 13.25, "latency": {"quantile": 0.99, "ratio": 1.1, "ci_low": 0.95,
                                  "ci_high": 1.31, "margin": 1.5, "p_value": 0.9, "breached": False}},
]  # fmt: skip


def _step(step: str, metric: str, values: tuple[float | None, float | None], n: tuple[int, int],
          lift: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    arms = [{"variant": v, "value": x, "n": k, "users": 900, "std_error": 0.01}
            for v, x, k in zip(("control", "candidate"), values, n, strict=True)]  # fmt: skip
    return {"step": step, "metric": metric, "arms": arms,
            "lifts": [{"variant": "candidate", "scale": "relative", "test": "none", "p_value": 0.5,
                       "significant": False} | lift]}  # fmt: skip


FUNNEL: list[dict[str, Any]] = [
    _step("search → click", "clicked_search_rate", (0.612, 0.655), (5000, 5100),
          {"lift": 0.0703, "ci_low": 0.021, "ci_high": 0.12, "significant": True}),
    _step("click → add-to-cart", "carts_per_click", (0.25, 0.24), (3061, 3341),
          {"lift": -0.04, "ci_low": -0.15, "ci_high": 0.07}),
    _step("add-to-cart → purchase", "purchases_per_cart", (None, 0.5), (0, 802),
          {"lift": None, "ci_low": None, "ci_high": None, "p_value": None}),
]  # fmt: skip


def _view(**evaluation: Any) -> dict[str, Any]:
    return {
        "key": "better",
        "kind": "ab",
        "status": "running",
        "outcome": "none",
        "phase": 1,
        "coverage": 1.0,
        "last_evaluation": {
            "metric": "purchase_conversion",
            "runtime_s": 7500.0,
            "units": {"control": 1364, "candidate": 1353},
            "srm_p_value": 0.81,
            "arms": [],
            "decision": {
                "action": "continue",
                "winner": None,
                "reasons": ["waiting for 18107 more users"],
                "blocked_by": ["min_runtime"],
                "rule": "success",
            },
        }
        | evaluation,
    }


def test_values_in_their_units() -> None:
    assert value_text(0.383, "share") == "38.3 %"
    assert value_text(12.345, "currency") == "12.35"  # two decimals (12.345 is 12.3449… in binary)
    assert value_text(1.2345, "count") == "1.23"
    assert value_text(None, "share") == "-"
    assert duration(7500) == "2 h 5 min" and duration(45) == "45 s" and duration(3600) == "1 h"


@pytest.mark.parametrize(
    ("lift", "unit", "text"),
    [
        ({"scale": "relative", "lift": 0.366, "ci_low": 0.201, "ci_high": 0.5}, "share",
         "+36.6 % [+20.1, +50.0]"),
        ({"scale": "absolute", "lift": 0.01, "ci_low": None, "ci_high": 0.025}, "share",
         "+1.0 pp [-∞, +2.5]"),
        ({"scale": "absolute", "lift": 1.155, "ci_low": -0.5, "ci_high": 2.81}, "currency",
         "+1.16 [-0.50, +2.81]"),
        ({"scale": "relative", "lift": -0.02, "ci_low": -0.1, "ci_high": None}, "count",
         "-2.0 % [-10.0, ∞]"),
    ],
)  # fmt: skip
def test_a_lift_with_its_interval(lift: dict[str, Any], unit: str, text: str) -> None:
    assert lift_text(lift, unit) == text


def test_a_lift_not_defined_yet_and_a_harm() -> None:
    assert (
        lift_text({"scale": "relative", "lift": None, "ci_low": None, "ci_high": None}, "share")
        == "-"
    )
    (lift,) = ABANDONMENT["lifts"]
    harm = dict(ABANDONMENT, lifts=[{**lift, "harm": True, "p_value": None}])
    assert metric_rows([harm])[1][-3:] == ("-", "non-inferiority (margin 2 pp)", "harm")


def test_one_row_per_metric_and_arm() -> None:
    rows = metric_rows([CONVERSION, ABANDONMENT])
    assert rows == [
        ("purchase conversion", "success", "control", "38.3 %", "1 364", "-", "-", "-", ""),
        ("", "", "candidate", "52.3 %", "1 353", "+36.6 % [+20.1, +50.0]", "<0.001",
         "superiority", "✓"),
        ("search abandonment (lower is better)", "guardrail", "control", "20.0 %", "5 000", "-",
         "-", "-", ""),
        ("", "", "candidate", "21.0 %", "5 100", "+1.0 pp [-∞, +2.5]", "0.200",
         "non-inferiority (margin 2 pp)", ""),
    ]  # fmt: skip


def test_the_funnel_step_by_step() -> None:
    """Each step's conversion per arm over what it counts from, the treatment's lift with its
    interval and ✓ when significant; a step not defined yet (no add-to-carts) shows -."""
    assert funnel_rows(FUNNEL) == [
        ("search → click", "control", "61.2 %", "5 000 searches", "-", ""),
        ("", "candidate", "65.5 %", "5 100 searches", "+7.0 % [+2.1, +12.0]", "✓"),
        ("click → add-to-cart", "control", "25.0 %", "3 061 clicks", "-", ""),
        ("", "candidate", "24.0 %", "3 341 clicks", "-4.0 % [-15.0, +7.0]", ""),
        ("add-to-cart → purchase", "control", "-", "0 add-to-carts", "-", ""),
        ("", "candidate", "50.0 %", "802 add-to-carts", "-", ""),
    ]  # fmt: skip
    assert funnel_over("view → buy", 3) == "3 views"  # a step the CLI does not know yet


def test_the_funnel_after_the_metrics_and_before_the_segments() -> None:
    text = show(_view(metrics=[CONVERSION], funnel=FUNNEL), after_metrics=["segments (x)"])
    lines = text.splitlines()
    title = lines.index("funnel: each step's conversion from the one before")
    assert lines[title + 1].split() == [
        "STEP", "ARM", "CONVERSION", "OF", "LIFT", "[INTERVAL]", "SIG",
    ]  # fmt: skip
    assert lines[title + 3].rstrip().endswith("+7.0 % [+2.1, +12.0]  ✓")
    assert next(i for i, x in enumerate(lines) if x.startswith("METRIC")) < title
    assert title < lines.index("segments (x)")
    assert "funnel" not in show(_view(metrics=[CONVERSION]))


def test_time_to_decision_or_why_not() -> None:
    ttd = {"tuning_units": 20824, "units": 2717, "units_needed": 18107,
           "units_per_day": 5000.0, "days_left": 3.6214, "effect": 0.05}  # fmt: skip
    assert time_to_decision(ttd) == (
        "time to decision: about 18 107 more users needed (2 717 of about 20 824 to conclude "
        "at a 5 % effect), ~3.6 days at the current rate (5 000 users a day)"
    )
    no_rate = ttd | {"units_per_day": None, "days_left": None}
    assert time_to_decision(no_rate).endswith("; days unknown (no traffic rate yet)")
    assert "enough users" in time_to_decision(ttd | {"units_needed": 0})
    assert time_to_decision(None).startswith("time to decision: not known yet")
    unknown = ttd | {"units_needed": None, "days_left": None}
    assert time_to_decision(unknown).startswith("time to decision: not known yet")
    # The planned total: units_to_conclude where the record has it.
    assert "(2 717 of about 30 000 to conclude" in time_to_decision(
        ttd | {"units_to_conclude": 30000}
    )


def test_each_arms_health() -> None:
    lines = ops_table(OPS).splitlines()
    assert lines[0].split() == ["ARM", "REQUESTS", "ERRORS", "ERROR", "RATE", "P50", "MS", "P99",
                                "MS", "LATENCY", "TEST"]  # fmt: skip
    assert lines[1].split() == ["control", "1", "200", "3", "0.25", "%", "4.1", "12.0", "-"]
    assert lines[2].endswith("p99 ×1.1 [0.95, 1.31] margin ×1.5")


def test_the_whole_show() -> None:
    text = show(
        _view(
            metrics=[CONVERSION, ABANDONMENT, REVENUE],
            time_to_decision={"tuning_units": 20824, "units": 2717, "units_needed": 18107,
                              "units_per_day": None, "days_left": None, "effect": 0.05},
            ops=OPS,
        )
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "better  ab, running, phase 1, coverage 1, runtime 2 h 5 min"
    assert lines[1] == (
        "  users: control 1 364, candidate 1 353; SRM p=0.81; primary metric purchase_conversion"
    )
    assert lines[2] == "  decision: continue (rule: success) (blocked by min_runtime)"
    assert lines[3] == "    - waiting for 18107 more users"
    head = next(line for line in lines if line.startswith("METRIC"))
    assert head.split()[:5] == ["METRIC", "ROLE", "ARM", "VALUE", "N"]
    revenue = next(line for line in lines if line.startswith("revenue per user"))
    assert "12.35" in revenue and "monitor" in revenue
    assert "+1.16 [-0.50, +2.81]" in text and "none" in text
    assert "about 18 107 more users needed" in text
    assert "operational health" in text and "p99 ×1.1" in text


def test_what_there_is_without_an_evaluation_or_metrics() -> None:
    none = show({"key": "draft", "status": "draft", "last_evaluation": None})
    assert none.splitlines() == ["draft  ab, draft, phase 0, coverage 1, runtime -",
                                 "  no evaluation yet"]  # fmt: skip
    older = _view(arms=[{"variant": "candidate", "estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2}])
    text = show(older)
    assert "purchase_conversion: candidate +10.0 % [+0.0, +20.0]" in text
    assert "time to decision: not known yet" in text


def test_a_bandit_and_an_interleaved_experiment() -> None:
    bandit = {
        "key": "b",
        "kind": "bandit",
        "status": "running",
        "period": 7,
        "last_evaluation": {
            "runtime_s": 60,
            "units": {"a": 10, "b": 12},
            "decision": {"action": "reweight", "reasons": ["weights follow P(best)"]},
            "state": {"p_best": {"a": 0.2, "b": 0.8}},
        },
    }
    text = show(bandit)
    assert text.startswith("b  bandit, running, period 7,")
    assert "P(best): a 0.200, b 0.800" in text and "time to decision" not in text
    interleaved = {
        "key": "il",
        "kind": "interleaving",
        "status": "running",
        "last_evaluation": {
            "runtime_s": 5,
            "units": {"production": 3, "candidate": 3},
            "decision": {"action": "continue", "reasons": ["few"]},
            "interleaving": {
                "searches": 20, "settled": 4, "slots": 200, "competitive_share": 0.75,
                "order": ["candidate", "production"],
                "pairs": [{"a": "production", "b": "candidate", "positive": 0, "negative": 4,
                           "won": 3, "lost": 12, "p_adjusted": 0.12, "significant": False}],
            },
        },
    }  # fmt: skip
    text = show(interleaved)
    assert "20 interleaved searches, 4 users settled" in text
    assert "production vs candidate: 0 users prefer production, 4 candidate" in text
    assert "time to decision" not in text and "users prefer candidate" not in text.splitlines()[0]
