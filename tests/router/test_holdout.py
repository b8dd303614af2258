"""The holdout's assignment: a uniform, sticky share of the users, on the baseline version for
every search and in no experiment; everyone else routed exactly as without it."""

from __future__ import annotations

import math
from dataclasses import replace

from gateway.config import load_routing_file
from gateway.config.holdout import HOLDOUT_ARM, REST_ARM, Holdout
from gateway.control import changes
from gateway.control.holdout import begin_holdout, end_holdout
from gateway.router.assign import Router
from gateway.router.hashing import unit_hash
from gateway.router.holdout import held_out
from tests.conftest import TEST_CONFIGS

CONFIG = load_routing_file(TEST_CONFIGS / "three_experiments.toml")
STARTED = 1_700_000_000.0
USERS = [f"user-{i}" for i in range(20_000)]


def _with_holdout(share: float = 0.05, version: str = "baseline-v0") -> Router:
    return Router(begin_holdout(CONFIG, version, share, STARTED))


def _held(router: Router, users: list[str]) -> set[str]:
    """The users the router tags with the holdout's ``holdout`` arm."""
    out = set()
    for user in users:
        tag = router.route(user).holdout
        assert tag is not None
        if tag.variant == HOLDOUT_ARM:
            out.add(user)
    return out


def test_the_share_is_honoured_within_binomial_bounds() -> None:
    for share in (0.01, 0.05, 0.2):
        router = _with_holdout(share)
        held = len(_held(router, USERS))
        n = len(USERS)
        sd = math.sqrt(n * share * (1 - share))
        assert abs(held - n * share) < 4 * sd, (share, held)


def test_a_held_out_user_gets_the_baseline_for_every_search_and_no_experiment() -> None:
    router = _with_holdout()
    held = _held(router, USERS[:3000])
    assert held
    for user in held:
        for _ in range(2):
            route = router.route(user)
            assert route.model_version == "baseline-v0"
            assert route.assignments == () and route.interleave == ()
            assert route.holdout is not None
            assert (route.holdout.experiment, route.holdout.variant) == (
                f"holdout~{int(STARTED)}",
                HOLDOUT_ARM,
            )


def test_everyone_else_is_routed_as_without_a_holdout_and_tagged_rest() -> None:
    plain, holding = Router(CONFIG), _with_holdout()
    in_experiments = 0
    for user in USERS[:3000]:
        route = holding.route(user)
        assert route.holdout is not None
        if route.holdout.variant == HOLDOUT_ARM:
            continue
        assert route.holdout.variant == REST_ARM
        before = plain.route(user)
        assert (route.model_version, route.assignments) == (
            before.model_version,
            before.assignments,
        )
        assert route.holdout.model_version == route.model_version
        in_experiments += bool(route.assignments)
    assert in_experiments > 1000  # the experiments still see the rest


def test_held_out_users_stay_through_production_moves_experiments_and_restarts() -> None:
    config = begin_holdout(CONFIG, "baseline-v0", 0.05, STARTED)
    before = _held(Router(config), USERS[:5000])
    moved = changes.set_production(config, "prod-v9")
    stopped = changes.stop(moved, CONFIG.running[0].key)
    for later in (moved, stopped, begin_holdout(CONFIG, "baseline-v0", 0.05, STARTED)):
        assert _held(Router(later, version=7), USERS[:5000]) == before


def test_an_ended_holdout_routes_nobody_and_tags_nothing() -> None:
    ended = end_holdout(begin_holdout(CONFIG, "baseline-v0", 0.05, STARTED), STARTED + 60)
    plain = Router(CONFIG)
    router = Router(ended)
    for user in USERS[:2000]:
        assert router.route(user) == plain.route(user)


def test_hash_vectors_are_stable() -> None:
    """Pinned: the holdout hashes with hash v2 under its own seed (its stats id by default);
    changing either would move held-out users mid-holdout."""
    holdout = Holdout("v", 0.05, STARTED)
    assert holdout.hash_seed == "holdout~1700000000"
    assert [unit_hash(holdout.hash_seed, f"user-{i}", 2) for i in range(5)] == [
        0.4844,
        0.7575,
        0.5291,
        0.6263,
        0.1059,
    ]
    held = [i for i in range(1000) if held_out(holdout, f"user-{i}")]
    assert held[:12] == [35, 59, 62, 70, 71, 77, 83, 98, 99, 105, 132, 162]
    seeded = replace(holdout, seed="my-seed")
    assert [i for i in range(1000) if held_out(seeded, f"user-{i}")][:3] != held[:3]
