"""The gates' policy: every field validated once (errors name the field and the value), changes
applied field by field, the CLI's key=value words read as JSON values."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError
from gateway.models.gate_policy import GatePolicy, parse_assignments


def test_the_default_is_an_absolute_budget_without_a_ratio() -> None:
    policy = GatePolicy()
    assert (policy.latency_budget_ms, policy.latency_candidates, policy.latency_ratio) == (
        50.0,
        200,
        None,
    )
    assert GatePolicy.from_json(policy.to_json()) == policy


def test_changes_apply_and_diff() -> None:
    old = GatePolicy()
    new = old.changed({"latency_ratio": 3, "dataset": "heldout-q4", "latency_candidates": 500.0})
    assert new.latency_ratio == 3.0 and new.latency_candidates == 500
    assert new.dataset == "heldout-q4"
    assert [d["path"] for d in old.diff(new)] == [
        "gate_policy.latency_candidates",
        "gate_policy.latency_ratio",
        "gate_policy.dataset",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ndcg_margin": 2}, "ndcg_margin: expected a number in [0, 1], got 2"),
        ({"ndcg_margin": "0.1"}, "ndcg_margin: expected a number in [0, 1], got '0.1'"),
        ({"latency_candidates": 2.5}, "latency_candidates: expected an integer in [1, 10000]"),
        ({"latency_budget_ms": None}, "latency_budget_ms: expected a number in [0.001, 60000]"),
        ({"latency_ratio": 0.5}, "latency_ratio: expected a number in [1, 1000] or null, got 0.5"),
        ({"dataset": "bad id!"}, "dataset: expected a dataset id"),
        ({"overlap_min": 0.9, "overlap_max": 0.1}, "overlap_min: must be at most overlap_max"),
        ({"colour": 1}, "colour: unknown field"),
    ],
)
def test_a_bad_value_names_the_field_and_the_value(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GatePolicy().changed(changes)
    assert message in str(caught.value)


def test_cli_assignments() -> None:
    assert parse_assignments(
        ["latency_budget_ms=80", "latency_ratio=off", "dataset=123", "latency_candidates=500"]
    ) == {
        "latency_budget_ms": 80,
        "latency_ratio": None,
        "dataset": "123",
        "latency_candidates": 500,
    }
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignments(["latency_budget_ms"])
