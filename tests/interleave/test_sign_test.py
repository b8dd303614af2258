"""The exact always-valid sign test against golden values worked by hand, and its error
rate under continuous monitoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.interleave.sign_test import log_lr, p_value


def test_sign_test_golden_by_hand() -> None:
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
