"""Per-user preferences and their always-valid test against golden values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.interleave.preference import (
    PairResult,
    PairSums,
    analyse_pairs,
    order,
    user_preference,
)


def _sums(a: int, b: int, prefs: list[float]) -> PairSums:
    return PairSums(a, b, len(prefs), sum(prefs), sum(p * p for p in prefs))


def test_user_preference() -> None:
    assert user_preference(3, 1, 5) == pytest.approx(0.4)
    assert user_preference(0, 2, 2) == -1.0
    with pytest.raises(ValueError):
        user_preference(1, 0, 0)
    with pytest.raises(ValueError):
        user_preference(2, 2, 3)


def test_golden_by_hand() -> None:
    # p = 1, 1, 0, -1/2, 1: mean 1/2, sample variance 2/4 = 1/2, V = 1/10 (five users).
    # Waudby-Smith et al. (2024), Thm 2.2, normal mixture, α = 0.05, N* = 5:
    #   ρ² = (−2 ln α + ln(−2 ln α + 1)) / N* = (5.991465 + 1.944691) / 5 = 1.587231
    #   half-width = √(V n) √(2 (nρ²+1) / (n² ρ²) · ln(√(nρ²+1) / α))
    #              = √0.5 · √(17.872312 / 39.680780 · ln(2.989340 / 0.05))
    #              = 0.707107 · √(0.450402 · 4.090785) = 0.959817
    (r,) = analyse_pairs([_sums(0, 1, [1, 1, 0, -0.5, 1])], alpha=0.05, tuning=5)
    assert r.preference == pytest.approx(0.5)
    assert r.ci_high - r.preference == pytest.approx(0.959817, abs=2e-6)
    assert r.preference - r.ci_low == pytest.approx(0.959817, abs=2e-6)
    assert not r.significant and r.p_adjusted == r.p_value


def test_a_clear_preference_is_significant_and_holm_adjusts() -> None:
    rng = np.random.default_rng(3)
    strong = list(np.clip(rng.normal(0.4, 0.5, 3000), -1, 1))
    none = list(np.clip(rng.normal(0.0, 0.5, 3000), -1, 1))
    results = analyse_pairs(
        [_sums(0, 1, strong), _sums(0, 2, none), _sums(1, 2, strong)], 0.05, 3000
    )
    assert results[0].significant and results[2].significant
    assert not results[1].significant
    raw = sorted(r.p_value for r in results)
    assert max(r.p_adjusted for r in results) >= raw[-1]
    assert min(r.p_adjusted for r in results) == pytest.approx(min(1.0, 3 * raw[0]))


def test_too_few_users_is_uninformative() -> None:
    (r,) = analyse_pairs([_sums(0, 1, [1.0])], 0.05, 100)
    assert not r.significant and r.p_value == 1.0
    assert math.isinf(r.ci_low) or r.ci_low <= 0 <= r.ci_high


def test_order_by_summed_preference() -> None:
    def res(a: int, b: int, pref: float) -> PairResult:
        return PairResult(a, b, 100, pref, 0, 0, 1, 1, False)

    # 2 beats 0 and 1; 0 beats 1.
    assert order([res(0, 1, 0.3), res(0, 2, -0.2), res(1, 2, -0.4)], 3) == [2, 0, 1]
    assert order([], 2) == [0, 1]


def test_sign_test_golden_by_hand() -> None:
    from gateway.interleave.sign_test import log_lr, p_value

    # a = 1: Λ = 2^n S! F! / (n + 1)!.  Ten users all one way: 2^10 / 11 = 93.09.
    assert math.exp(log_lr(10, 0)) == pytest.approx(1024 / 11)
    assert math.exp(log_lr(0, 10)) == pytest.approx(1024 / 11)
    # 3 and 1: 2^4 · 3! · 1! / 5! = 16 · 6 / 120 = 0.8 (no evidence yet).
    assert math.exp(log_lr(3, 1)) == pytest.approx(0.8)
    # An even split never builds evidence: 5 and 5 gives 2^10 · 5!5! / 11! = 0.3694.
    assert math.exp(log_lr(5, 5)) == pytest.approx(1024 * 120 * 120 / 39916800)
    assert p_value(10, 0) == pytest.approx(11 / 1024)
    assert p_value(3, 1) == 1.0 and p_value(3, 1, previous=0.2) == 0.2
    assert math.exp(log_lr(0, 0)) == 1.0


def test_sign_test_holds_alpha_under_continuous_monitoring() -> None:
    from gateway.interleave.sign_test import log_lr

    rng = np.random.default_rng(11)
    runs, n, alpha = 2000, 500, 0.05
    flips = rng.random((runs, n)) < 0.5
    positive = np.cumsum(flips, axis=1)
    rejected = 0
    for r in range(runs):
        for t in range(n):
            if log_lr(int(positive[r, t]), t + 1 - int(positive[r, t])) >= math.log(1 / alpha):
                rejected += 1
                break
    # Ville: at most α (the bound is loose: the rate is well under it).
    assert rejected / runs <= alpha
