"""Sufficient statistics merge like the union of their shards."""

from __future__ import annotations

import numpy as np
import pytest

from stats.sufficient import MeanStats


def test_merge_equals_statistics_of_the_union() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(3, 1, 700), rng.lognormal(3, 1, 300)
    merged = MeanStats.of(list(a)) + MeanStats.of(list(b))
    both = np.concatenate([a, b])
    assert merged.n == 1000
    assert merged.mean == pytest.approx(both.mean(), rel=1e-12)
    assert merged.variance == pytest.approx(both.var(ddof=1), rel=1e-10)


def test_no_cancellation_with_a_large_offset() -> None:
    values = [1e9 + x for x in (4.0, 7.0, 13.0, 16.0)]
    stats = MeanStats.of(values)
    assert stats.variance == pytest.approx(30.0, rel=1e-9)


def test_from_sums_and_empty() -> None:
    stats = MeanStats.from_sums(4, 2.0, 2.0)  # four users, two converted
    assert stats.mean == 0.5 and stats.variance == pytest.approx(1 / 3)
    assert MeanStats.from_sums(0, 0.0, 0.0) == MeanStats.empty()
    assert MeanStats.empty() + stats == stats + MeanStats.empty() == stats
