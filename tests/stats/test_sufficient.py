"""Mergeable, numerically stable sufficient statistics."""

from __future__ import annotations

import numpy as np
import pytest

from stats.sufficient import MeanStats, PairStats


def test_merge_equals_the_union() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(3, 1.5, 700), rng.lognormal(3, 1.5, 1300)
    merged = MeanStats.of(list(a)) + MeanStats.of(list(b))
    whole = MeanStats.of(list(np.concatenate([a, b])))
    assert merged.n == whole.n
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.variance == pytest.approx(np.concatenate([a, b]).var(ddof=1), rel=1e-10)


def test_pair_merge_equals_the_union() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.poisson(1, 900).astype(float), rng.normal(2, 1, 900)
    parts = [PairStats.of(list(x[i::3]), list(y[i::3])) for i in range(3)]
    merged = parts[0] + parts[1] + parts[2]
    assert merged.covariance == pytest.approx(np.cov(x, y)[0, 1], rel=1e-10)
    assert merged.x.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert merged.y.variance == pytest.approx(y.var(ddof=1), rel=1e-10)
    assert PairStats.empty() + merged == merged + PairStats.empty() == merged


def test_integer_sums_convert_exactly_where_floats_cancel() -> None:
    # A billion-cent mean with a variance of 1: sum_sq - sum^2/n in floats loses everything.
    values = [10**9 + d for d in (-1, 0, 1, 0, -1, 1)]
    n, total, sum_sq = len(values), sum(values), sum(v * v for v in values)
    exact = MeanStats.from_int_sums(n, total, sum_sq)
    assert exact.variance == pytest.approx(0.8, rel=1e-12)
    naive_m2 = float(sum_sq) - float(total) ** 2 / n
    assert abs(naive_m2 / (n - 1) - 0.8) > 0.1  # what the naive formula would have said
    pair = PairStats.from_int_sums(n, total, total, sum_sq, sum_sq, sum_sq)
    assert pair.covariance == pytest.approx(0.8, rel=1e-12)


def test_conversion_from_sums_and_empty() -> None:
    stats = MeanStats.from_int_sums(4, 2, 2)  # four users, two converted
    assert (stats.n, stats.mean) == (4, 0.5)
    assert stats.variance == pytest.approx(1 / 3)
    assert MeanStats.from_int_sums(0, 0, 0) == MeanStats.empty()
    assert MeanStats.empty() + stats == stats + MeanStats.empty() == stats
    with pytest.raises(ValueError, match="differ"):
        PairStats.of([1.0], [1.0, 2.0])
