"""Per-user preferences between rankers and their always-valid test.

The randomisation unit is the user, so searches are aggregated per user before any test (one
heavy user must not decide): for a pair of rankers (a, b), a user's preference is

    p_u = (wins_u − losses_u) / verdicts_u  ∈ [−1, 1]

over the user's searches in which a click was credited to either ranker (``verdicts_u``;
searches with no credited click say nothing about the pair). Users with no verdict are left
out. The test is on the mean of p_u over users, H0: mean = 0, with the asymptotic confidence
sequence of :mod:`stats.confidence_sequence` (Waudby-Smith et al., Annals of Statistics
2024, Theorem 2.2): valid however often it is looked at. A sign test would use only the sign
of p_u; the mean keeps the strength of each user's preference and is bounded, so the
central-limit sequence applies (Chapelle, Joachims, Radlinski & Yue, "Large-scale validation
and analysis of interleaved search evaluation", TOIS 2012, §5 aggregate per user likewise).

Multileaving tests every pair; the pairs' always-valid p-values are adjusted with Holm
(Holm 1979), which keeps the family-wise error at α at any stopping time since each p-value
is valid at any stopping time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stats.confidence_sequence import confidence_sequence
from stats.effects import Effect
from stats.multiple import holm


def user_preference(wins: int, losses: int, verdicts: int) -> float:
    if verdicts <= 0:
        raise ValueError(f"a user's preference needs at least one verdict, got {verdicts}")
    if wins < 0 or losses < 0 or wins + losses > verdicts:
        raise ValueError(f"wins {wins} and losses {losses} do not fit {verdicts} verdicts")
    return (wins - losses) / verdicts


@dataclass(frozen=True)
class PairSums:
    """Sufficient statistics of one pair over users: Σ p_u and Σ p_u² over ``users``."""

    a: int
    b: int
    users: int
    total: float
    total_sq: float

    def effect(self) -> Effect:
        n = self.users
        mean = self.total / n if n else 0.0
        unit_variance = (self.total_sq - n * mean * mean) / (n - 1) if n > 1 else math.nan
        return Effect(
            estimate=mean,
            variance=max(unit_variance, 0.0) / n if n > 1 else math.nan,
            units=n,
            dof=float(n - 1),
            relative=False,
        )


@dataclass(frozen=True)
class PairResult:
    a: int
    b: int
    users: int
    preference: float  # mean over users of p_u: > 0 when users prefer a
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    significant: bool


def analyse_pairs(pairs: Sequence[PairSums], alpha: float, tuning: float) -> list[PairResult]:
    """Every pair's always-valid interval and p-value, Holm-adjusted across the pairs."""
    inferences = [confidence_sequence(p.effect(), alpha, tuning) for p in pairs]
    adjusted = holm([i.p_value for i in inferences]) if inferences else []
    return [
        PairResult(
            p.a,
            p.b,
            p.users,
            i.estimate,
            i.ci_low,
            i.ci_high,
            i.p_value,
            q,
            q <= alpha,
        )
        for p, i, q in zip(pairs, inferences, adjusted, strict=True)
    ]


def order(results: Sequence[PairResult], rankers: int) -> list[int]:
    """Rankers best first by their summed preference over every pair (a Borda count of the
    pairwise means); ties keep the lower index first."""
    score = [0.0] * rankers
    for r in results:
        score[r.a] += r.preference
        score[r.b] -= r.preference
    return sorted(range(rankers), key=lambda i: (-score[i], i))
