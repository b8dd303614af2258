"""One pass of the worker over a running bandit: stop, re-weight, or wait.

In order:

1. a sample-ratio mismatch in any period (:mod:`gateway.bandit.periods`) blocks
   everything: neither weights nor a winner come from counts that the assignment
   did not produce;
2. once the minimum runtime has passed, every arm has ``min_units`` units and the
   burn-in is over, an arm whose posterior probability of being best reaches
   ``stop_probability`` wins (posterior: independent N(reward, variance) per arm,
   the normal approximation GrowthBook's bandits also use; Monte Carlo with a seed);
3. past the maximum runtime with no winner, the bandit stops inconclusive;
4. otherwise, once ``update_every_s`` has passed since the last re-weighting, the
   policy's weights for the next period (:func:`gateway.bandit.allocation.allocate`:
   uniform during the burn-in, never below the floor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gateway.bandit.allocation import Allocation, Policy, allocate
from gateway.bandit.policies import ArmRewards, thompson_gaussian
from stats.effects import ArmEstimate

Action = Literal["continue", "promote", "stop-inconclusive"]
POLICIES: dict[str, Policy] = {
    "thompson": "thompson-gaussian",
    "top-two-thompson": "top-two-thompson-gaussian",
    "ucb1": "ucb1",
}
WEIGHT_CHANGE = 1e-3  # a smaller move is not worth a new period


@dataclass(frozen=True)
class BanditRules:
    policy: str  # a key of POLICIES
    floor: float
    burn_in_units: int
    update_every_s: float
    stop_probability: float
    min_units: int
    min_runtime_s: float
    max_runtime_s: float | None


@dataclass(frozen=True)
class BanditDecision:
    action: Action
    winner: int | None
    p_best: tuple[float, ...]
    weights: tuple[float, ...] | None  # the next period's, when it is time to re-weight
    policy_shares: tuple[float, ...] | None
    reasons: tuple[str, ...]
    blocked_by: tuple[str, ...] = ()


def as_rewards(estimates: Sequence[ArmEstimate]) -> list[ArmRewards]:
    """ArmRewards whose N(mean, s²/n) posterior has the estimate's mean and variance."""
    out = []
    for e in estimates:
        if e.n == 0 or not math.isfinite(e.mean):
            out.append(ArmRewards(0, 0.0, 0.0))
        else:
            m2 = e.variance * e.n * (e.n - 1) if math.isfinite(e.variance) else 0.0
            out.append(ArmRewards(e.n, e.mean, m2))
    return out


def best_probabilities(
    rewards: Sequence[ArmEstimate], seed: int, draws: int = 10_000
) -> tuple[float, ...]:
    """P(arm is best); uniform while some arm has no units or no arm varies."""
    k = len(rewards)
    if any(r.n < 2 or not math.isfinite(r.variance) for r in rewards) or all(
        r.variance <= 0 for r in rewards
    ):
        return tuple(1 / k for _ in rewards)
    rng = np.random.default_rng(seed)
    return tuple(float(p) for p in thompson_gaussian(as_rewards(rewards), rng, draws))


def decide(
    rules: BanditRules,
    names: Sequence[str],
    weights: Sequence[float],
    rewards: Sequence[ArmEstimate],
    *,
    runtime_s: float,
    since_update_s: float,
    srm_p: float,
    srm_mismatch: bool,
    seed: int,
    draws: int = 10_000,
) -> BanditDecision:
    p_best = best_probabilities(rewards, seed, draws)
    units = [r.n for r in rewards]
    served = sum(units)
    leader = int(np.argmax(p_best))
    summary = ", ".join(f"{n} {p:.3f}" for n, p in zip(names, p_best, strict=True))
    if srm_mismatch:
        return BanditDecision(
            "continue",
            None,
            p_best,
            None,
            None,
            (f"sample ratio mismatch in a period (p={srm_p:.2g}): weights held, no winner",),
            ("srm",),
        )
    waits = []
    blocked: list[str] = []
    if runtime_s < rules.min_runtime_s:
        waits.append(f"minimum runtime: {runtime_s:.0f} of {rules.min_runtime_s:g} s")
        blocked.append("min_runtime")
    short = [n for n, u in zip(names, units, strict=True) if u < rules.min_units]
    if short:
        waits.append(f"fewer than {rules.min_units} units in {short}")
        blocked.append("min_units")
    if served < rules.burn_in_units:
        waits.append(f"burn-in: {served} of {rules.burn_in_units} units")
        blocked.append("burn_in")
    if not waits and p_best[leader] >= rules.stop_probability:
        return BanditDecision(
            "promote",
            leader,
            p_best,
            None,
            None,
            (
                f"{names[leader]} is best with probability {p_best[leader]:.3f} >= "
                f"{rules.stop_probability:g} (P(best): {summary})",
            ),
        )
    if rules.max_runtime_s is not None and runtime_s >= rules.max_runtime_s:
        return BanditDecision(
            "stop-inconclusive",
            None,
            p_best,
            None,
            None,
            (
                f"maximum runtime {rules.max_runtime_s:g} s reached with no arm best at "
                f"{rules.stop_probability:g} (P(best): {summary})",
            ),
        )
    reasons = [f"P(best): {summary}", *waits]
    if since_update_s < rules.update_every_s:
        return BanditDecision("continue", None, p_best, None, None, tuple(reasons), tuple(blocked))
    allocation: Allocation = allocate(
        POLICIES[rules.policy],
        as_rewards(rewards),
        min_share=rules.floor,
        burn_in_units=rules.burn_in_units,
        seed=seed,
        draws=draws,
    )
    if max(abs(a - b) for a, b in zip(allocation.weights, weights, strict=True)) < WEIGHT_CHANGE:
        return BanditDecision(
            "continue", None, p_best, None, allocation.policy_shares, tuple(reasons), tuple(blocked)
        )
    return BanditDecision(
        "continue",
        None,
        p_best,
        allocation.weights,
        allocation.policy_shares,
        (*reasons, f"re-weighting by {allocation.reason}"),
        tuple(blocked),
    )
