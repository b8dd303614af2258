"""From a bandit policy to traffic weights: burn-in, a floor per arm, and a reported seed.

The weights are what the router serves. Every arm keeps at least
``min_share`` of traffic, so estimates of every arm keep improving and the
experiment can still be read as an A/B test; until ``burn_in_units`` units have
been served the split stays uniform. The random generator is built from the
seed passed in, and the seed is returned with the weights so any allocation
can be replayed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gateway.bandit.policies import (
    ArmRewards,
    thompson_bernoulli,
    thompson_gaussian,
    top_two,
    ucb1,
)

Policy = Literal[
    "thompson-bernoulli",
    "thompson-gaussian",
    "top-two-thompson",
    "top-two-thompson-gaussian",
    "ucb1",
]
DEFAULT_DRAWS = 10_000


@dataclass(frozen=True)
class Allocation:
    weights: tuple[float, ...]
    policy_shares: tuple[float, ...]  # the policy's own shares, before the floor
    seed: int
    reason: str


def apply_floor(shares: Sequence[float], min_share: float) -> tuple[float, ...]:
    """Weights with every arm >= min_share, in proportion to ``shares`` above the floor."""
    k = len(shares)
    if not 0 <= min_share <= 1 / k:
        raise ValueError(f"min_share must be in [0, 1/{k}] for {k} arms, got {min_share}")
    total = float(sum(shares))
    if total <= 0:
        raise ValueError(f"shares must have a positive sum, got {list(shares)}")
    free = 1 - k * min_share
    return tuple(min_share + free * s / total for s in shares)


def allocate(
    policy: Policy,
    arms: Sequence[ArmRewards],
    *,
    min_share: float,
    burn_in_units: int,
    seed: int,
    draws: int = DEFAULT_DRAWS,
    top_two_beta: float = 0.5,
) -> Allocation:
    """Traffic weights for the next period under ``policy``."""
    k = len(arms)
    if k < 2:
        raise ValueError(f"a bandit needs at least 2 arms, got {k}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    served = sum(a.n for a in arms)
    if served < burn_in_units:
        uniform = tuple(1 / k for _ in arms)
        return Allocation(uniform, uniform, seed, f"burn-in: {served} of {burn_in_units} units")
    rng = np.random.default_rng(seed)
    if policy == "thompson-bernoulli":
        shares = thompson_bernoulli(arms, rng, draws)
    elif policy == "thompson-gaussian":
        shares = thompson_gaussian(arms, rng, draws)
    elif policy == "top-two-thompson":
        shares = top_two(thompson_bernoulli(arms, rng, draws), top_two_beta)
    elif policy == "top-two-thompson-gaussian":
        shares = top_two(thompson_gaussian(arms, rng, draws), top_two_beta)
    elif policy == "ucb1":
        shares = ucb1(arms)
    else:
        raise ValueError(f"unknown bandit policy {policy!r}")
    best = tuple(float(s) for s in shares)
    return Allocation(apply_floor(best, min_share), best, seed, policy)
