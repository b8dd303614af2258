"""Shadow agreement figures: the batched computation equals the per-search one (itself checked
against hand-worked values and scipy in tests/models/test_ranking_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.ops.agreement import agreement, agreements


@pytest.mark.parametrize("n", [1, 2, 5, 10, 11, 20, 21, 50, 300])
def test_batched_figures_equal_one_search_at_a_time(n: int) -> None:
    rng = np.random.default_rng(n)
    for trial in range(20):
        prod, shadow = rng.random((8, n)), rng.random((8, n))
        if trial % 3 == 0:  # ties, which Kendall's τ-b and the stable ranking must treat alike
            prod, shadow = np.round(prod, 1), np.round(shadow, 1)
        if trial % 5 == 0:
            shadow[:] = 0.5  # a constant ranker
        if trial % 7 == 0:
            shadow = prod.copy()  # full agreement
        for got, want in zip(
            agreements(prod, shadow),
            [agreement(a, b) for a, b in zip(prod, shadow, strict=True)],
            strict=True,
        ):
            assert got.overlap_at_10 == pytest.approx(want.overlap_at_10, abs=1e-12)
            assert got.kendall_tau == pytest.approx(want.kendall_tau, abs=1e-12)
            assert got.rbo == pytest.approx(want.rbo, abs=1e-12)


def test_identical_rankings_agree_fully() -> None:
    scores = np.linspace(1, 0, 30)[None, :]
    (a,) = agreements(scores, scores)
    assert (a.overlap_at_10, a.kendall_tau) == (1.0, 1.0) and a.rbo == pytest.approx(1.0)
