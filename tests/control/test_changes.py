"""Pure lifecycle changes: each step's result and each refusal."""

from __future__ import annotations

from collections.abc import Callable
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
        changes.start(config, "b", now=1.0)
    with pytest.raises(Conflict, match="only a draft"):
        changes.start(config, "a", now=1.0)
    with pytest.raises(NotFound):
        changes.start(config, "zz", now=1.0)
    frozen = changes.freeze(config, now=1.0)
    assert frozen.frozen and frozen.running == ()
    assert (frozen.experiment("a").status, frozen.experiment("a").outcome) == ("paused", "none")
    with pytest.raises(Conflict, match="frozen"):
        changes.start(frozen, "c", now=1.0)
    unfrozen = changes.unfreeze(frozen, now=2.0)
    assert unfrozen.experiment("a").running
    with pytest.raises(Conflict, match=r"overlaps running experiment 'a'"):
        changes.start(unfrozen, "b", now=3.0)  # resumed: its range is its own again
    assert changes.start(changes.stop(unfrozen, "a"), "b", now=3.0).experiment("b").running


def test_edits_follow_the_state() -> None:
    config = _config(_exp("a", "running"), _exp("d"))
    assert (
        changes.edit_experiment(config, "d", {"mde": 0.2}, now=1.0).experiment("d").analysis.mde
        == 0.2
    )
    assert (
        changes.edit_experiment(config, "a", {"coverage": 0.3}, now=1.0).experiment("a").coverage
        == 0.3
    )
    with pytest.raises(Conflict, match="only \\['weights', 'coverage'\\]"):
        changes.edit_experiment(config, "a", {"alpha": 0.1}, now=1.0)
    with pytest.raises(ConfigError, match="status: is set by the lifecycle"):
        changes.edit_experiment(config, "d", {"status": "running"}, now=1.0)
    with pytest.raises(ConfigError, match=r"experiment 'd'\.alpha"):
        changes.edit_experiment(config, "d", {"alpha": 7}, now=1.0)
    stopped = changes.stop(config, "a")
    with pytest.raises(Conflict, match="cannot change"):
        changes.edit_experiment(stopped, "a", {"coverage": 0.1}, now=1.0)
    with pytest.raises(Conflict, match="stop it before archiving"):
        changes.archive(config, "a")
    assert changes.archive(stopped, "a").experiment("a").status == "archived"


def test_diff_names_an_added_experiment_once() -> None:
    before = _config(_exp("a"))
    after = changes.create_experiment(before, _exp("b"))
    (change,) = changes.diff(before, after)
    assert change["path"] == "experiments['b']" and change["old"] is None


def test_new_weights_on_a_running_experiment_start_a_re_randomised_phase() -> None:
    config = changes.start(_config(_exp("a")), "a", now=100.0)
    first = config.experiment("a")
    assert (first.phase, first.hash_seed, first.stats_id) == (0, "a", "a")
    assert first.phases[0].started_at == 100.0
    ramped = changes.edit_experiment(
        config, "a", {"weights": {"control": 0.8, "candidate": 0.2}}, now=200.0
    ).experiment("a")
    assert (ramped.phase, ramped.hash_seed, ramped.stats_id) == (1, "a:phase-1", "a@1")
    assert [(p.weights, p.started_at) for p in ramped.phases] == [
        ((0.5, 0.5), 100.0),
        ((0.8, 0.2), 200.0),
    ]
    # Coverage is a ramp within the phase; a draft's weights are no phase at all.
    config = changes.start(_config(_exp("b")), "b", now=1.0)
    assert (
        changes.edit_experiment(config, "b", {"coverage": 0.2}, now=2.0).experiment("b").phase == 0
    )
    draft = changes.edit_experiment(
        _config(_exp("c")), "c", {"weights": {"control": 0.7, "candidate": 0.3}}, now=2.0
    ).experiment("c")
    assert draft.phases == ()
    # A running experiment seeded from a file (no phases yet) gets its weights as phase 0.
    seeded = changes.edit_experiment(
        _config(_exp("d", "running")), "d", {"weights": {"control": 0.6, "candidate": 0.4}}, now=3.0
    ).experiment("d")
    assert [p.weights for p in seeded.phases] == [(0.5, 0.5), (0.6, 0.4)]


def test_a_ramp_schedule_starts_at_its_first_step_and_advances_one_step_at_a_time() -> None:
    ramp = [{"coverage": 0.02, "hold_s": 300}, {"coverage": 0.1, "hold_s": 600}, {"coverage": 1.0}]
    config = changes.start(_config(_exp("a") | {"ramp": ramp}), "a", now=10.0)
    experiment = config.experiment("a")
    assert (experiment.coverage, experiment.ramp_step, experiment.ramp_step_started_at) == (
        0.02,
        0,
        10.0,
    )
    with pytest.raises(Conflict, match="follows its ramp schedule"):
        changes.edit_experiment(config, "a", {"coverage": 0.5}, now=11.0)
    # A draft given a schedule takes its first step's coverage.
    draft = changes.edit_experiment(_config(_exp("d")), "d", {"ramp": ramp}, now=1.0)
    assert draft.experiment("d").coverage == 0.02
    config = changes.advance_ramp(config, "a", 0, now=400.0)
    assert (config.experiment("a").coverage, config.experiment("a").ramp_step) == (0.1, 1)
    with pytest.raises(Conflict, match="not at ramp step 0"):
        changes.advance_ramp(config, "a", 0, now=401.0)  # a second worker's stale step
    config = changes.advance_ramp(config, "a", 1, now=1100.0)
    assert config.experiment("a").coverage == 1.0
    with pytest.raises(Conflict, match="last step"):
        changes.advance_ramp(config, "a", 2, now=1200.0)


@pytest.mark.parametrize(
    ("ramp", "message"),
    [
        ([{"coverage": 0.5, "hold_s": 1}, {"coverage": 0.2}], "must rise"),
        ([{"coverage": 0.1}, {"coverage": 0.2}], r"ramp\[0\]\.hold_s: is required"),
        ([{"coverage": 0.1, "hold_s": 1, "speed": 2}], "unknown field"),
    ],
)
def test_bad_ramps_are_named(ramp: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(_exp("a") | {"ramp": ramp})


def _bandit(key: str = "b", floor: float = 0.1) -> dict[str, Any]:
    return _exp(key) | {"kind": "bandit", "bandit": {"floor": floor, "update_every_s": 5}}


def test_a_bandit_runs_in_periods_that_only_the_worker_moves() -> None:
    config = changes.start(_config(_bandit()), "b", now=100.0)
    b = config.experiment("b")
    assert (b.period, b.period_started_at, b.phases, b.stats_id) == (0, 100.0, (), "b")
    config = changes.rebalance(config, "b", 0, (0.2, 0.8), now=110.0)
    b = config.experiment("b")
    assert [v.weight for v in b.variants] == [0.2, 0.8] and b.period == 1
    # a period is a phase of its own: re-randomised, its own statistics
    assert (b.stats_id, b.hash_seed, b.phases) == ("b@1", "b:phase-1", ())
    with pytest.raises(Conflict, match="not a running bandit in period 0"):
        changes.rebalance(config, "b", 0, (0.5, 0.5), now=120.0)  # another pass got there first
    with pytest.raises(ConfigError, match=r"floor 0.1; \['control'\] have less weight"):
        changes.rebalance(config, "b", 1, (0.05, 0.95), now=120.0)
    with pytest.raises(Conflict, match="is a bandit: its weights are the worker's"):
        changes.edit_experiment(config, "b", {"weights": {"control": 0.5, "candidate": 0.5}}, 1.0)
    with pytest.raises(ConfigError, match="period: is set by the lifecycle"):
        changes.edit_experiment(config, "b", {"period": 7}, 1.0)
    with pytest.raises(Conflict, match="not a running bandit"):
        changes.rebalance(_config(_exp("a", "running")), "a", 0, (0.5, 0.5), now=1.0)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"bandit": {"policy": "epsilon"}}, r"bandit.policy: must be one of"),
        ({"bandit": {"floor": 0.7}}, r"bandit.floor: must be in \[0.0, 0.5\]"),
        ({"bandit": {"stop_probability": 0.3}}, r"stop_probability: must be in \[0.5"),
        ({"kind": "ab"}, r"bandit: is for kind = \"bandit\" only"),
        ({"guardrails": [{"metric": "revenue_per_user", "margin": 0.1}]}, "no business guardrails"),
        ({"bandit": {"policy": "ucb1", "reward": "revenue_per_search"}}, "needs rewards in"),
    ],
)
def test_bad_bandit_settings_are_named(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(_bandit() | patch)


def test_an_interleaved_winner_goes_on_to_an_ab_test_in_one_change() -> None:
    ml = {
        "key": "ml",
        "kind": "multileaving",
        "status": "running",
        "namespace_range": [0.5, 1.0],
        "coverage": 0.4,
        "alpha": 0.01,
        "variants": [
            {"name": "production", "model_version": "prod-v1"},
            {"name": "worse", "model_version": "worse-v0"},
            {"name": "candidate", "model_version": "cand-v2"},
        ],
    }
    taken = _exp("ml-ab", "concluded", 0.0, 0.5)
    config = changes.confirm_with_ab(_config(ml, taken), "ml", "candidate", 100.0)
    assert config.production == "prod-v1"  # production waits for the A/B test
    assert config.experiment("ml").outcome == "promoted_to_ab"
    ab = config.experiment("ml-ab2")  # "ml-ab" is taken
    assert (ab.kind, ab.status, ab.interleaving) == ("ab", "running", None)
    assert [(v.name, v.model_version, v.weight) for v in ab.variants] == [
        ("production", "prod-v1", 0.5),
        ("candidate", "cand-v2", 0.5),
    ]
    assert ab.namespace_range == (0.5, 1.0) and ab.coverage == 0.4 and ab.analysis.alpha == 0.01
    assert ab.phases[0].started_at == 100.0 and ab.hash_seed == "ml-ab2"
    assert "ml's winner candidate" in ab.description
    with pytest.raises(ConfigError, match="is the control"):
        changes.confirm_with_ab(_config(ml), "ml", "production", 100.0)
    with pytest.raises(Conflict, match="not interleaved"):
        changes.confirm_with_ab(_config(_exp("a", "running")), "a", "candidate", 100.0)
    with pytest.raises(Conflict, match="not running"):
        changes.confirm_with_ab(config, "ml", "candidate", 100.0)


def _three(status: str = "running") -> dict[str, Any]:
    return _exp("m", status) | {
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.4},
            {"name": "t1", "model_version": "cand-v2", "weight": 0.3},
            {"name": "t2", "model_version": "cand-v3", "weight": 0.3},
        ]
    }


def test_stopping_arms_moves_their_weight_to_control_in_a_new_phase() -> None:
    config = changes.stop_arms(_config(_three()), "m", 0, ("t2",), now=5.0)
    m = config.experiment("m")
    assert m.running and m.phase == 1 and m.phases[-1].started_at == 5.0
    assert [v.weight for v in m.variants] == pytest.approx([0.7, 0.3, 0.0])
    assert m.phases[0].weights == pytest.approx((0.4, 0.3, 0.3))
    with pytest.raises(Conflict, match="not in phase 0"):  # decided on the old phase's data
        changes.stop_arms(config, "m", 0, ("t1",), now=6.0)
    with pytest.raises(ConfigError, match="control"):
        changes.stop_arms(config, "m", 1, ("control",), now=6.0)
    with pytest.raises(ConfigError, match="'t9' is not a variant"):
        changes.stop_arms(config, "m", 1, ("t9",), now=6.0)
    with pytest.raises(Conflict, match="not running"):
        changes.stop_arms(_config(_three("draft")), "m", 0, ("t2",), now=6.0)


def test_a_rollback_goes_to_the_previous_production_or_to_any_earlier_one() -> None:
    history: list[dict[str, Any]] = [
        {"from": "cand-v2", "to": "cand-v3"},
        {"from": "prod-v1", "to": "cand-v2"},
        {"from": None, "to": "prod-v1"},
    ]
    assert changes.rollback_target(history, "cand-v3") == "cand-v2"
    assert changes.rollback_target(history, "cand-v3", "prod-v1") == "prod-v1"
    for to, text in (
        ("cand-v3", "'cand-v3' is production already"),
        ("ghost-v1", "'ghost-v1' was never production"),
    ):
        with pytest.raises(Conflict, match=text):
            changes.rollback_target(history, "cand-v3", to)
    with pytest.raises(Conflict, match="no earlier production"):
        changes.rollback_target(history[2:], "prod-v1")
    with pytest.raises(Conflict, match="no production version yet"):
        changes.rollback_target([], None)


def test_a_paused_experiment_routes_nobody_holds_its_place_and_resumes_in_its_phase() -> None:
    config = _config(_exp("a", "running", 0.0, 0.5), _exp("d", "draft", 0.4, 1.0))
    paused = changes.pause(config, "a", now=100.0)
    a = paused.experiment("a")
    assert (a.status, a.outcome, a.paused_at, a.paused_by, a.paused_s) == (
        "paused",
        "none",
        100.0,
        "hand",
        0.0,
    )
    assert paused.running == () and paused.routed_versions() == {"prod-v1"}
    assert a.paused_total(130.0) == 30.0 and a.active_clock(130.0) == 100.0
    with pytest.raises(Conflict, match=r"overlaps paused experiment 'a'"):
        changes.start(paused, "d", now=101.0)
    with pytest.raises(Conflict, match=r"'a' is paused \(outcome 'none'\); only a running"):
        changes.pause(paused, "a", now=101.0)
    with pytest.raises(Conflict, match=r"'d' is draft .* only a running experiment can be paused"):
        changes.pause(paused, "d", now=101.0)
    with pytest.raises(
        Conflict, match=r"'a' is running .* only a paused experiment can be resumed"
    ):
        changes.resume(config, "a", now=101.0)
    with pytest.raises(NotFound, match="'zz'"):
        changes.pause(config, "zz", now=101.0)
    # Its traffic may still be edited, as while it runs; its test may not.
    edited = changes.edit_experiment(
        paused, "a", {"weights": {"control": 0.7, "candidate": 0.3}, "coverage": 0.5}, now=110.0
    ).experiment("a")
    assert (edited.status, edited.phase, edited.coverage) == ("paused", 1, 0.5)
    with pytest.raises(Conflict, match="'a' is paused: only"):
        changes.edit_experiment(paused, "a", {"alpha": 0.1}, now=110.0)
    with pytest.raises(ConfigError, match="paused_s: is set by the lifecycle"):
        changes.edit_experiment(paused, "a", {"paused_s": 0}, now=110.0)
    resumed = changes.resume(paused, "a", now=160.0).experiment("a")
    assert (resumed.status, resumed.paused_at, resumed.paused_by, resumed.paused_s) == (
        "running",
        None,
        None,
        60.0,
    )
    assert (resumed.phase, resumed.hash_seed) == (a.phase, a.hash_seed)  # the same arms
    assert resumed.active_clock(200.0) == 140.0


def test_a_pause_holds_the_decision_loop_but_not_a_person() -> None:
    ramp = [{"coverage": 0.1, "hold_s": 300}, {"coverage": 1.0}]
    config = changes.start(_config(_exp("a") | {"ramp": ramp}), "a", now=10.0)
    paused = changes.pause(config, "a", now=50.0)
    decisions: list[Callable[[RoutingConfig], RoutingConfig]] = [
        lambda c: changes.conclude(c, "a", "candidate", "promoted"),
        lambda c: changes.conclude(c, "a", None, "rolled_back"),
        lambda c: changes.advance_ramp(c, "a", 0, now=400.0),
        lambda c: changes.stop_arms(c, "a", 0, ("candidate",), now=400.0),
    ]
    for decision in decisions:
        with pytest.raises(Conflict, match="paused"):
            decision(paused)
    with pytest.raises(Conflict, match="stop it before archiving"):
        changes.archive(paused, "a")
    stopped = changes.stop(paused, "a").experiment("a")
    assert (stopped.status, stopped.outcome, stopped.paused_at) == ("concluded", "stopped", None)
    promoted = changes.promote(paused, "a")  # an admin's call on what it showed before
    assert promoted.production == "cand-v2"
    assert promoted.experiment("a").outcome == "promoted"
    # The ramp's hold does not run while paused: resumed 100 s later, the step started then.
    resumed = changes.resume(paused, "a", now=150.0).experiment("a")
    assert resumed.ramp_step_started_at == 110.0
    bandit = changes.start(_config(_bandit()), "b", now=100.0)
    later = changes.resume(changes.pause(bandit, "b", now=103.0), "b", now=203.0)
    assert later.experiment("b").period_started_at == 200.0
    with pytest.raises(Conflict, match="not a running bandit"):
        changes.rebalance(changes.pause(bandit, "b", 103.0), "b", 0, (0.5, 0.5), now=104.0)


def test_a_freeze_pauses_every_running_experiment_and_lifting_it_resumes_them() -> None:
    config = _config(
        _exp("a", "running", 0.0, 0.3), _exp("b", "running", 0.3, 0.6), _exp("c", "draft", 0.6, 1)
    )
    by_hand = changes.pause(config, "b", now=5.0)
    frozen = changes.freeze(by_hand, now=10.0)
    assert frozen.frozen and frozen.running == ()
    assert [(e.key, e.status, e.paused_by) for e in frozen.experiments] == [
        ("a", "paused", "freeze"),
        ("b", "paused", "hand"),
        ("c", "draft", None),
    ]
    for key in ("a", "b"):
        with pytest.raises(Conflict, match=rf"'{key}' cannot resume while experiments are frozen"):
            changes.resume(frozen, key, now=11.0)
    unfrozen = changes.unfreeze(frozen, now=40.0)
    assert not unfrozen.frozen
    assert [(e.key, e.status) for e in unfrozen.experiments] == [
        ("a", "running"),
        ("b", "paused"),  # paused by a person: resumed by one
        ("c", "draft"),
    ]
    assert unfrozen.experiment("a").paused_s == 30.0
    assert changes.resume(unfrozen, "b", now=45.0).experiment("b").paused_s == 40.0
    assert changes.diff(by_hand, frozen)[0] == {
        "path": "experiments['a'].paused_at",
        "old": None,
        "new": 10.0,
    }
