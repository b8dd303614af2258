"""Bandit policies: from each arm's rewards so far to the probability of serving it next.

- Thompson sampling (Thompson 1933; Agrawal & Goyal, "Analysis of Thompson
  Sampling for the Multi-armed Bandit Problem", COLT 2012): serve each arm with
  its posterior probability of being best, estimated from ``draws`` joint
  posterior samples. Bernoulli rewards: Beta(1 + successes, 1 + failures).
  Gaussian rewards: N(mean, s²/n) (flat prior), with the pooled variance for
  arms that have fewer than two units.
- Top-two Thompson sampling (Russo, "Simple Bayesian Algorithms for Best-Arm
  Identification", Operations Research 68(6), 2020, section 3.2): the leader
  I ~ α (the best-arm probabilities) with probability β; else the posterior is
  re-sampled until another arm J comes up, the challenger. Here the re-sampling
  stops after R = ``MAX_RESAMPLES`` tries and then plays the leader, as any
  implementation must stop somewhere; in closed form
  ψ_j = α_j (β + (1 − β) α_j^R + (1 − β) Σ_{i≠j} α_i (1 − α_i^R) / (1 − α_i)).
  Without the bound (R → ∞) this is Russo's ψ_j = α_j (β + (1 − β) Σ_{i≠j} α_i / (1 − α_i)),
  which is not continuous where a leader is certain: (1, 0, 0) has no challenger
  while (1 − ε, ε, 0) hands an arm with P(best) = ε the whole challenger share.
  With the bound every ψ_j ≤ (1 + (1 − β) R) α_j: a near-certain loser gets next to
  nothing, and a near-certain leader gets everything.
- UCB1 (Auer, Cesa-Bianchi & Fischer, "Finite-time Analysis of the Multiarmed
  Bandit Problem", Machine Learning 47, 2002, fig. 1): index x̄_i + √(2 ln n / n_i),
  every unit of the next batch to the arm of highest index (ties shared);
  rewards must lie in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
# Re-samples of top-two's challenger. The challenger's distribution α_j / (1 − α_i) rests on the
# posterior draws in which the leader is not best: with the default 10 000 draws there are fewer
# than 100 of them once 1 − α_i < 1 / R, and from there the challenger's share fades (to
# 1 − 1/e of itself at 1 − α_i = 1/R, 1 % at 1e-4, 0 at a certain leader).
MAX_RESAMPLES = 100


@dataclass(frozen=True)
class ArmRewards:
    """Units served, and the sum and sum of squared deviations of their rewards."""

    n: int
    mean: float
    m2: float = 0.0

    @classmethod
    def bernoulli(cls, successes: int, trials: int) -> ArmRewards:
        if not 0 <= successes <= trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes}, {trials}")
        mean = successes / trials if trials else 0.0
        return cls(trials, mean, trials * mean * (1 - mean))


def best_probabilities(samples: Array) -> Array:
    """Share of posterior samples (rows) in which each arm (column) is the largest."""
    winners = np.argmax(samples, axis=1)
    return np.asarray(np.bincount(winners, minlength=samples.shape[1]) / samples.shape[0])


def thompson_bernoulli(arms: Sequence[ArmRewards], rng: np.random.Generator, draws: int) -> Array:
    """P(arm is best) under independent Beta(1 + s, 1 + f) posteriors."""
    s = np.array([a.mean * a.n for a in arms])
    f = np.array([a.n for a in arms]) - s
    return best_probabilities(rng.beta(1 + s, 1 + f, size=(draws, len(arms))))


def thompson_gaussian(arms: Sequence[ArmRewards], rng: np.random.Generator, draws: int) -> Array:
    """P(arm is best) under N(mean, s²/n) posteriors (flat prior, pooled s² for small arms)."""
    n = np.array([a.n for a in arms], dtype=np.float64)
    pooled_df = sum(max(a.n - 1, 0) for a in arms)
    pooled = sum(a.m2 for a in arms) / pooled_df if pooled_df > 0 else 1.0
    variance = np.array([a.m2 / (a.n - 1) if a.n > 1 else pooled for a in arms])
    sd = np.sqrt(np.maximum(variance, 1e-12) / np.maximum(n, 1.0))
    means = np.array([a.mean for a in arms])
    return best_probabilities(rng.normal(means, sd, size=(draws, len(arms))))


def top_two(best: Array, beta: float, resamples: int = MAX_RESAMPLES) -> Array:
    """Russo's top-two allocation ψ from best-arm probabilities α, at most ``resamples``
    re-samples for the challenger (see the module's docstring)."""
    if not 0 < beta < 1:
        raise ValueError(f"beta must be in (0, 1), got {beta}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    alpha = np.clip(np.asarray(best, dtype=np.float64), 0.0, 1.0)
    total = alpha.sum()
    if total <= 0:
        return np.full(len(alpha), 1 / len(alpha))
    alpha = alpha / total
    powers = np.power.outer(alpha, np.arange(resamples + 1))  # α_i^r, r = 0..R
    # α_i (1 − α_i^R) / (1 − α_i) = α_i Σ_{r<R} α_i^r: the polynomial, continuous at α_i = 1
    leads_to_challenger = alpha * powers[:, :resamples].sum(axis=1)
    challenged = leads_to_challenger.sum() - leads_to_challenger
    psi = alpha * (beta + (1 - beta) * (powers[:, resamples] + challenged))
    return np.asarray(psi / psi.sum())


def ucb1(arms: Sequence[ArmRewards]) -> Array:
    """All of the next batch to the arm(s) of highest UCB1 index; unplayed arms first."""
    total = sum(a.n for a in arms)
    index = np.array(
        [
            math.inf if a.n == 0 else a.mean + math.sqrt(2 * math.log(max(total, 1)) / a.n)
            for a in arms
        ]
    )
    top = index == index.max()
    return np.asarray(top / top.sum())
