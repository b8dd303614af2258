"""Ranking metrics against golden values: hand-worked RBO, scipy's Kendall τ-b, NDCG by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from gateway.models.ranking_metrics import (
    kendall_tau,
    ndcg_at_k,
    overlap_at_k,
    rank_biased_overlap,
)


def _scores_for(order: list[int], n: int) -> list[float]:
    """Scores under which candidate ``order[0]`` ranks first, and so on."""
    scores = [0.0] * n
    for rank, item in enumerate(order):
        scores[item] = float(n - rank)
    return scores


def test_rbo_worked_example() -> None:
    # A = [a, b, c], B = [b, a, d], p = 0.9 (Webber et al. 2010, eq. 32) by hand:
    # X1 = 0, X2 = 2, X3 = 2; sum (X_d/d) p^d = 0 + 0.81 + 0.486 = 1.296;
    # RBO_ext = (2/3) 0.729 + (0.1/0.9) 1.296 = 0.486 + 0.144 = 0.630.
    a = _scores_for([0, 1, 2], 4)  # a=0, b=1, c=2, d=3
    b = _scores_for([1, 0, 3], 4)
    assert rank_biased_overlap(a, b, p=0.9, depth=3) == pytest.approx(0.630, abs=1e-12)


def test_rbo_of_identical_and_disjoint_rankings() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=40)
    assert rank_biased_overlap(scores, scores) == pytest.approx(1.0)
    a = _scores_for(list(range(10)), 20)
    b = _scores_for(list(range(10, 20)), 20)
    assert rank_biased_overlap(a, b) == 0.0


def test_kendall_tau_matches_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        x = rng.integers(0, 6, size=30).astype(float)  # ties
        y = x + rng.normal(scale=2.0, size=30)
        assert kendall_tau(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_overlap_and_ndcg() -> None:
    a = _scores_for(list(range(10)), 30)
    b = _scores_for([*range(5), *range(20, 25)], 30)
    assert overlap_at_k(a, b) == 0.5
    grades = [3, 0, 2]
    best = ndcg_at_k([3.0, 1.0, 2.0], grades)
    assert best == 1.0
    dcg = 0 + 3 / math.log2(3) + 7 / math.log2(4)  # grade 0 first, grade 2 second, grade 3 third
    idcg = 7 + 3 / math.log2(3)
    assert ndcg_at_k([1.0, 3.0, 2.0], grades) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([1.0, 2.0], [0, 0]) == 1.0
