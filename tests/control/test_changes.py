"""Pure lifecycle changes: each step's result and each refusal."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import RoutingConfig, parse_routing
from gateway.control import changes
from gateway.errors import ConfigError, Conflict, NotFound


def _config(*experiments: dict[str, Any], production: str = "prod-v1") -> RoutingConfig:
    return parse_routing({"production": production, "experiments": list(experiments)})


def _exp(key: str, status: str = "draft", lo: float = 0.0, hi: float = 1.0) -> dict[str, Any]:
    return {
        "key": key,
        "status": status,
        "namespace_range": [lo, hi],
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
        ],
    }


def test_promotion_moves_production_and_concludes_in_one_config() -> None:
    config = changes.promote(_config(_exp("a", "running")), "a")
    assert config.production == "cand-v2"
    assert (config.experiment("a").status, config.experiment("a").outcome) == (
        "concluded",
        "promoted",
    )
    assert config.routed_versions() == {"cand-v2"}
    with pytest.raises(Conflict, match="not running"):
        changes.promote(config, "a")


def test_rollback_decision_keeps_production() -> None:
    config = changes.conclude(_config(_exp("a", "running")), "a", None, "rolled_back")
    assert config.production == "prod-v1" and config.experiment("a").outcome == "rolled_back"


def test_start_checks_state_freeze_and_overlap() -> None:
    config = _config(_exp("a", "running", 0.0, 0.5), _exp("b", "draft", 0.4, 1.0), _exp("c"))
    with pytest.raises(Conflict, match=r"overlaps running experiment 'a'"):
        changes.start(config, "b")
    with pytest.raises(Conflict, match="only a draft"):
        changes.start(config, "a")
    with pytest.raises(NotFound):
        changes.start(config, "zz")
    frozen = changes.freeze(config)
    assert frozen.frozen and frozen.running == ()
    assert frozen.experiment("a").outcome == "stopped"
    with pytest.raises(Conflict, match="frozen"):
        changes.start(frozen, "c")
    assert changes.start(changes.unfreeze(frozen), "b").experiment("b").running


def test_edits_follow_the_state() -> None:
    config = _config(_exp("a", "running"), _exp("d"))
    assert changes.edit_experiment(config, "d", {"mde": 0.2}).experiment("d").analysis.mde == 0.2
    assert changes.edit_experiment(config, "a", {"coverage": 0.3}).experiment("a").coverage == 0.3
    with pytest.raises(Conflict, match="only \\['weights', 'coverage'\\]"):
        changes.edit_experiment(config, "a", {"alpha": 0.1})
    with pytest.raises(ConfigError, match="status: is set by the lifecycle"):
        changes.edit_experiment(config, "d", {"status": "running"})
    with pytest.raises(ConfigError, match=r"experiment 'd'\.alpha"):
        changes.edit_experiment(config, "d", {"alpha": 7})
    stopped = changes.stop(config, "a")
    with pytest.raises(Conflict, match="cannot change"):
        changes.edit_experiment(stopped, "a", {"coverage": 0.1})
    with pytest.raises(Conflict, match="stop it before archiving"):
        changes.archive(config, "a")
    assert changes.archive(stopped, "a").experiment("a").status == "archived"


def test_diff_names_an_added_experiment_once() -> None:
    before = _config(_exp("a"))
    after = changes.create_experiment(before, _exp("b"))
    (change,) = changes.diff(before, after)
    assert change["path"] == "experiments['b']" and change["old"] is None
