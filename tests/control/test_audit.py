"""An audit entry's subjects, read from each writer's shape, and the filter over them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.config import parse_routing
from gateway.control import changes
from gateway.control.audit import AuditFilter, subjects
from gateway.errors import RequestError

CONFIG = parse_routing(
    {
        "production": "prod-v1",
        "experiments": [
            {
                "key": "ranker-q4",
                "status": "draft",
                "variants": [
                    {"name": "control", "model_version": "prod-v1", "weight": 0.5},
                    {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
                ],
            }
        ],
    }
)


def _entry(diff: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"actor": "dave", "reason": "r", "ts": 100.0, "version": 3, "diff": diff} | extra


def test_config_changes_name_the_experiment_production_freeze_and_shadows() -> None:
    started = changes.start(CONFIG, "ranker-q4", now=1.0)
    assert subjects(_entry(changes.diff(CONFIG, started))) == ["experiment:ranker-q4"]
    shadowed = changes.set_shadow(started, "shadow-v3", 0.5)
    assert subjects(_entry(changes.diff(started, shadowed))) == ["shadow:shadow-v3"]
    reshared = changes.set_shadow(shadowed, "shadow-v3", 0.25)
    assert subjects(_entry(changes.diff(shadowed, reshared))) == ["shadow:shadow-v3"]
    moved = changes.set_production(reshared, "cand-v2")
    assert subjects(_entry(changes.diff(reshared, moved))) == ["production"]
    stopped = replace(changes.stop(moved, "ranker-q4"), frozen=True)
    assert subjects(_entry(changes.diff(moved, stopped))) == ["experiment:ranker-q4", "freeze"]


def test_a_seed_names_every_experiment_it_creates() -> None:
    seeded = changes.diff(parse_routing({"production": "prod-v1"}), CONFIG)
    assert subjects(_entry(seeded)) == ["experiment:ranker-q4"]


def test_registry_policy_token_and_refusal_entries() -> None:
    card = _entry([{"path": "models['cand-v9'].state", "old": None, "new": "gating"}])
    assert subjects(card | {"model": "cand-v9"}) == ["model:cand-v9"]
    dataset = _entry([{"path": "datasets['heldout']", "old": None, "new": {}}], dataset="heldout")
    assert subjects(dataset) == ["dataset:heldout"]
    policy = _entry([{"path": "latency_budget_ms", "old": 50, "new": 80}], gate_policy=True)
    assert subjects(policy) == ["gate-policy"]
    token = _entry([], token={"name": "zoe", "role": "experimenter"})
    assert subjects(token) == ["token:zoe"]
    refused = _entry(
        [], refused={"method": "PUT", "route": "/v1/production", "path": "/v1/production"}
    )
    assert subjects(refused) == ["route:PUT /v1/production"]
    assert subjects({"actor": "x"}) == []


def test_the_filter_matches_subject_exactly_or_by_prefix_actor_and_time() -> None:
    entry = _entry([], model="cand-v9")
    found = subjects(entry)
    assert AuditFilter().matches(entry, found)
    assert AuditFilter(subject="model:cand-v9").matches(entry, found)
    assert not AuditFilter(subject="model:cand-v").matches(entry, found)
    assert AuditFilter(subject="model:").matches(entry, found)
    assert not AuditFilter(subject="experiment:").matches(entry, found)
    assert AuditFilter(actor="dave").matches(entry, found)
    assert not AuditFilter(actor="zoe").matches(entry, found)
    assert AuditFilter(since=100.0, until=100.0).matches(entry, found)
    assert not AuditFilter(since=100.5).matches(entry, found)
    assert not AuditFilter(until=99.0).matches(entry, found)


@pytest.mark.parametrize(
    ("query", "where", "text"),
    [
        ({"since": "yesterday"}, "?since", "'yesterday'"),
        ({"until": "-5"}, "?until", "'-5'"),
        ({"since": "200", "until": "100"}, "?since", "after ?until 100"),
        ({"subject": ":"}, "?subject", "':'"),
        ({"actor": ""}, "?actor", "''"),
    ],
)
def test_a_bad_query_names_the_parameter_and_its_value(
    query: dict[str, str], where: str, text: str
) -> None:
    with pytest.raises(RequestError) as raised:
        AuditFilter.from_query(query)
    assert raised.value.where == where and text in raised.value.detail


def test_from_query_reads_every_parameter() -> None:
    query = {"subject": "experiment:", "actor": "dave", "since": "1.5", "until": "2"}
    assert AuditFilter.from_query(query) == AuditFilter("experiment:", "dave", 1.5, 2.0)
