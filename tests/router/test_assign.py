"""Deterministic, sticky, monotone assignment (DESIGN invariant 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

from gateway.config import RoutingConfig, load_routing_file
from gateway.control import changes
from gateway.router.assign import Router
from tests.conftest import TEST_CONFIGS

CONFIG = TEST_CONFIGS / "three_experiments.toml"
USERS = [f"user-{i}" for i in range(3000)] + ["ünïcødé", "\U0001f600-emoji", ""]


def _routes(router: Router) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    out = []
    for user in USERS:
        route = router.route(user)
        out.append(
            (route.model_version, tuple((a.experiment, a.variant) for a in route.assignments))
        )
    return out


def test_same_assignment_in_another_process() -> None:
    here = _routes(Router(load_routing_file(CONFIG)))
    script = (
        "import json, sys\n"
        "from gateway.config import load_routing_file\n"
        "from gateway.router.assign import Router\n"
        f"users = json.loads({json.dumps(json.dumps(USERS))})\n"
        f"router = Router(load_routing_file(__import__('pathlib').Path({str(CONFIG)!r})))\n"
        "print(json.dumps([[r.model_version, [[a.experiment, a.variant] for a in r.assignments]]"
        " for r in map(router.route, users)]))\n"
    )
    # A fresh interpreter with a different hash seed: nothing may depend on Python's hash().
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=True,
        text=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    there = [(m, tuple((e, v) for e, v in a)) for m, a in json.loads(out.stdout)]
    assert there == here


def test_every_experiment_gets_traffic_and_splits_roughly_evenly() -> None:
    routes = _routes(Router(load_routing_file(CONFIG)))
    counts: dict[tuple[str, str], int] = {}
    for _, assignments in routes:
        for pair in assignments:
            counts[pair] = counts.get(pair, 0) + 1
    assert len(counts) == 6
    assert all(300 < c < 700 for c in counts.values()), counts


def _with_coverage(config: RoutingConfig, key: str, coverage: float) -> RoutingConfig:
    return config.with_experiment(replace(config.experiment(key), coverage=coverage))


def test_raising_coverage_never_moves_an_included_user() -> None:
    config = load_routing_file(CONFIG)
    previous: dict[str, str] = {}
    for step in range(0, 11):
        coverage = step / 10
        router = Router(_with_coverage(config, "better", coverage))
        current = {}
        for user in USERS:
            for a in router.route(user).assignments:
                if a.experiment == "better":
                    current[user] = a.variant
        for user, variant in previous.items():
            assert current.get(user) == variant, f"{user} moved at coverage {coverage}"
        assert len(current) >= len(previous)
        previous = current
    assert previous  # at full coverage somebody is in the experiment


def test_uncovered_users_get_the_default_version_and_no_assignment() -> None:
    router = Router(_with_coverage(load_routing_file(CONFIG), "better", 0.0))
    for user in USERS:
        route = router.route(user)
        assert all(a.experiment != "better" for a in route.assignments)
        if not route.assignments:
            assert route.model_version == "prod-v1"


def test_draft_experiments_do_not_route() -> None:
    config = load_routing_file(CONFIG)
    for key in ("better", "worse", "aa"):
        config = config.with_experiment(replace(config.experiment(key), status="draft"))
    router = Router(config)
    assert all(not router.route(u).assignments for u in USERS)


def test_a_paused_experiment_routes_its_users_to_production_and_resumes_with_their_arms() -> None:
    config = load_routing_file(CONFIG)
    before = _routes(Router(config))
    paused = changes.pause(config, "better", now=1.0)
    during = _routes(Router(paused))
    in_better = [i for i, (_, a) in enumerate(before) if a and a[0][0] == "better"]
    assert in_better  # a third of the namespace
    for i, (version, assigned) in enumerate(during):
        if i in in_better:
            assert (version, assigned) == ("prod-v1", ())  # not exposed: nothing recorded
        else:
            assert (version, assigned) == before[i]  # the other experiments go on
    assert _routes(Router(changes.resume(paused, "better", now=2.0))) == before


def test_interleaved_experiments_route_every_covered_user_to_every_version() -> None:
    config = load_routing_file(TEST_CONFIGS / "interleaving.toml")
    config = config.with_experiment(replace(config.experiment("ml"), coverage=0.5))
    router = Router(config)
    seen: dict[str, int] = {}
    for user in USERS:
        route = router.route(user)
        if not route.assignments:
            assert route.model_version == "prod-v1" and route.interleave == ()
            continue
        (assignment,) = route.assignments
        experiment = config.experiment(assignment.experiment)
        if not experiment.interleaved:  # the A/B test beside them
            assert route.interleave == () and assignment.variant in ("control", "candidate")
            continue
        assert assignment.variant == "interleaved"
        assert route.interleave == experiment.variants
        assert route.model_version == route.interleave[0].model_version
        assert router.route(user) == route  # sticky
        seen[experiment.key] = seen.get(experiment.key, 0) + 1
    # Whole namespace ranges for il and ai; half of ml's users (its range is 0.23) are covered.
    assert 0.30 < seen["il"] / len(USERS) < 0.38 and 0.29 < seen["ai"] / len(USERS) < 0.37
    assert 0.08 < seen["ml"] / len(USERS) < 0.15
