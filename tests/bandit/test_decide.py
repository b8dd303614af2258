"""The bandit's pass: blocked by SRM, waits (runtime, units, burn-in), stops at P(best),
stops inconclusive at the maximum runtime, and re-weights on its cadence within the floor."""

from __future__ import annotations

import math

import pytest

from gateway.bandit.decide import BanditDecision, BanditRules, best_probabilities, decide
from stats.effects import ArmEstimate

RULES = BanditRules(
    policy="thompson",
    floor=0.05,
    burn_in_units=300,
    update_every_s=10.0,
    stop_probability=0.95,
    min_units=50,
    min_runtime_s=5.0,
    max_runtime_s=600.0,
)
NAMES = ("a", "b", "c")
UNIFORM = (1 / 3, 1 / 3, 1 / 3)


def _arms(*means: float, n: int = 1000, sd: float = 0.3) -> tuple[ArmEstimate, ...]:
    return tuple(ArmEstimate(n, m, sd * sd / n) for m in means)


def _decide(rewards: tuple[ArmEstimate, ...], **kw: float | bool) -> BanditDecision:
    args: dict[str, float | bool] = {
        "runtime_s": 60.0,
        "since_update_s": 20.0,
        "srm_p": 0.5,
        "srm_mismatch": False,
    }
    args.update(kw)
    return decide(RULES, NAMES, UNIFORM, rewards, seed=1, **args)  # type: ignore[arg-type]


def test_best_probabilities_match_the_normal_closed_form_for_two_arms() -> None:
    # P(B > A) = Φ((μB − μA) / √(vA + vB)) = Φ(0.02 / √(2 · 0.0001)) = Φ(1.4142) = 0.92135
    arms = (ArmEstimate(100, 0.10, 0.0001), ArmEstimate(100, 0.12, 0.0001))
    p = best_probabilities(arms, seed=3, draws=200_000)
    assert p[1] == pytest.approx(0.92135, abs=0.003)
    # no units, or no variation anywhere: nothing known, uniform
    assert best_probabilities((ArmEstimate(0, math.nan, math.inf), arms[1]), 3) == (0.5, 0.5)
    assert best_probabilities((ArmEstimate(9, 0, 0), ArmEstimate(9, 0, 0)), 3) == (0.5, 0.5)


def test_a_clear_leader_is_promoted_once_every_wait_is_over() -> None:
    clear = _arms(0.30, 0.40, 0.20)
    d = _decide(clear)
    assert (d.action, d.winner) == ("promote", 1)
    assert "b is best with probability 1.000" in d.reasons[0]
    waiting = _decide(clear, runtime_s=1.0)
    assert waiting.action == "continue" and waiting.blocked_by == ("min_runtime",)
    few = decide(RULES, NAMES, UNIFORM, _arms(0.3, 0.4, 0.2, n=40), runtime_s=60, since_update_s=0,
                 srm_p=0.5, srm_mismatch=False, seed=1)  # fmt: skip
    assert few.action == "continue" and set(few.blocked_by) == {"min_units", "burn_in"}


def test_srm_blocks_both_the_winner_and_the_weights() -> None:
    d = _decide(_arms(0.30, 0.40, 0.20), srm_p=1e-6, srm_mismatch=True)
    assert (d.action, d.weights, d.blocked_by) == ("continue", None, ("srm",))
    assert "sample ratio mismatch" in d.reasons[0]


def test_reweighting_follows_the_cadence_and_keeps_the_floor() -> None:
    close = _arms(0.300, 0.312, 0.250, n=2000)  # b probably best, c clearly worst
    d = _decide(close)
    assert d.action == "continue" and d.weights is not None
    weights = d.weights
    assert sum(weights) == pytest.approx(1.0) and min(weights) >= RULES.floor - 1e-12
    assert weights[2] == pytest.approx(RULES.floor)  # the worst gets the floor, no more
    assert weights[1] > weights[0] > weights[2]
    assert _decide(close, since_update_s=5.0).weights is None


def test_the_maximum_runtime_stops_a_bandit_with_no_clear_best() -> None:
    tied = _arms(0.3, 0.3, 0.3)
    d = _decide(tied, runtime_s=700.0)
    assert d.action == "stop-inconclusive" and d.winner is None
