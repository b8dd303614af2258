"""Bandit study: cumulative regret and best-arm identification against uniform allocation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.bandit.allocation import Policy, allocate
from gateway.bandit.policies import ArmRewards

RATES = (0.05, 0.051, 0.0525, 0.055)  # conversion per arm: +0 %, +2 %, +5 %, +10 %
BATCHES = 100
PER_BATCH = 2_000
MIN_SHARE = 0.02
BURN_IN = 4_000
DRAWS = 2_000


@dataclass(frozen=True)
class BanditRun:
    regret: float  # expected conversions lost against always serving the best arm
    found_best: bool
    best_share: float  # share of all users served by the best arm


def play(policy: Policy | None, seed: int) -> BanditRun:
    """One experiment of BATCHES re-weightings; ``policy=None`` is uniform allocation."""
    rng = np.random.default_rng(seed)
    rates = np.array(RATES)
    k = len(rates)
    trials = np.zeros(k, dtype=np.int64)
    wins = np.zeros(k, dtype=np.int64)
    weights = np.full(k, 1 / k)
    for batch in range(BATCHES):
        served = rng.multinomial(PER_BATCH, weights)
        trials += served
        wins += rng.binomial(served, rates)
        if policy is not None:
            arms = [ArmRewards.bernoulli(int(w), int(t)) for w, t in zip(wins, trials, strict=True)]
            allocation = allocate(
                policy,
                arms,
                min_share=MIN_SHARE,
                burn_in_units=BURN_IN,
                seed=seed * 1_000 + batch,
                draws=DRAWS,
            )
            weights = np.array(allocation.weights)
    best = int(np.argmax(rates))
    regret = float(np.sum(trials * (rates[best] - rates)))
    found = int(np.argmax(wins / np.maximum(trials, 1))) == best
    return BanditRun(regret, found, float(trials[best] / trials.sum()))
