"""Bandit study: cumulative regret and best-arm identification against uniform allocation.

Two worlds: stationary rates, and a base rate that falls from 1.5x to 0.5x over the
experiment, the same for every arm (a novelty or seasonal effect): an arm served mostly
early then looks better than it is to a policy that pools its units across time.
"""

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


def base_rate(batch: int, drift: bool) -> float:
    """The factor every arm's rate has in ``batch``: 1, or falling from 1.5 to 0.5."""
    return 1.5 - batch / (BATCHES - 1) if drift else 1.0


@dataclass(frozen=True)
class BanditRun:
    regret: float  # expected conversions lost against always serving the best arm
    found_best: bool
    best_share: float  # share of all users served by the best arm
    stopped_users: int | None = None  # the worker's bandit: users served when it stopped


def play(policy: Policy | None, seed: int, drift: bool = False) -> BanditRun:
    """One experiment of BATCHES re-weightings; ``policy=None`` is uniform allocation."""
    rng = np.random.default_rng(seed)
    rates = np.array(RATES)
    k = len(rates)
    trials = np.zeros(k, dtype=np.int64)
    wins = np.zeros(k, dtype=np.int64)
    weights = np.full(k, 1 / k)
    best = int(np.argmax(rates))
    regret = 0.0
    for batch in range(BATCHES):
        f = base_rate(batch, drift)
        served = rng.multinomial(PER_BATCH, weights)
        trials += served
        wins += rng.binomial(served, rates * f)
        regret += float(np.sum(served * (rates[best] - rates)) * f)
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
    found = int(np.argmax(wins / np.maximum(trials, 1))) == best
    return BanditRun(regret, found, float(trials[best] / trials.sum()))


WORKER_STOP = 0.95
WORKER_MIN_UNITS = 200


def play_worker(policy: str, seed: int, drift: bool = False) -> BanditRun:
    """The worker's bandit (:mod:`gateway.bandit.decide` on period-weighted rewards): one
    re-weighting per period of PER_BATCH users, floor and burn-in as above, stopping once an
    arm's P(best) reaches WORKER_STOP; after the stop every later user gets the winner (it is
    production), so regret is counted over the same BATCHES · PER_BATCH users as the others."""
    from gateway.bandit.decide import BanditRules, decide
    from gateway.bandit.periods import Period, weighted_rewards
    from stats.effects import mean_estimate
    from stats.sufficient import MeanStats

    rules = BanditRules(
        policy=policy,
        floor=MIN_SHARE,
        burn_in_units=BURN_IN,
        update_every_s=1.0,
        stop_probability=WORKER_STOP,
        min_units=WORKER_MIN_UNITS,
        min_runtime_s=0.0,
        max_runtime_s=None,
    )
    rng = np.random.default_rng(seed)
    rates = np.array(RATES)
    k = len(rates)
    names = [f"arm{i}" for i in range(k)]
    trials = np.zeros(k, dtype=np.int64)
    wins = np.zeros(k, dtype=np.int64)
    weights = tuple(1 / k for _ in range(k))
    periods: list[Period] = []
    winner: int | None = None
    stopped: int | None = None
    best = int(np.argmax(rates))
    regret = 0.0
    for batch in range(BATCHES):
        f = base_rate(batch, drift)
        if winner is not None:
            trials[winner] += PER_BATCH
            regret += PER_BATCH * (rates[best] - rates[winner]) * f
            continue
        served = rng.multinomial(PER_BATCH, weights)
        won = rng.binomial(served, rates * f)
        regret += float(np.sum(served * (rates[best] - rates)) * f)
        trials += served
        wins += won
        periods.append(
            Period(
                weights,
                tuple(
                    mean_estimate(MeanStats.from_int_sums(int(n), int(w), int(w)))
                    for n, w in zip(served, won, strict=True)
                ),
            )
        )
        pooled = [
            mean_estimate(MeanStats.from_int_sums(int(n), int(w), int(w)))
            for n, w in zip(trials, wins, strict=True)
        ]
        rewards = weighted_rewards(periods, pooled)
        d = decide(
            rules,
            names,
            weights,
            rewards,
            runtime_s=float(batch),
            since_update_s=1.0,
            srm_p=1.0,
            srm_mismatch=False,
            seed=seed * 1_000 + batch,
            draws=DRAWS,
        )
        if d.action == "promote":
            winner = d.winner
            stopped = int(trials.sum())
        elif d.weights is not None:
            weights = d.weights
    chosen = winner if winner is not None else int(np.argmax([r.mean for r in rewards]))
    return BanditRun(regret, chosen == best, float(trials[best] / trials.sum()), stopped)
