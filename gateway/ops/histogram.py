"""Pure: a fixed log-spaced latency histogram (milliseconds) and its percentiles.

Every gateway process counts into the same buckets, so counts from many processes add up
exactly in Redis; a percentile is read as the upper edge of the bucket it falls in (an
over-estimate of at most one bucket's width, ~19 %)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Final

# Upper edges, 0.1 ms to ~60 s, 2**(1/4) apart; the last bucket is open.
EDGES_MS: Final = tuple(round(0.1 * 2 ** (i / 4), 4) for i in range(78))


def bucket(latency_ms: float) -> int:
    """The bucket of one observation: the first whose upper edge is at least it."""
    return bisect.bisect_left(EDGES_MS, latency_ms)


def percentile(counts: Mapping[int, int] | Sequence[int], q: float) -> float | None:
    """The ``q``-quantile (0 < q <= 1) of the counted observations; None if there are none."""
    items = sorted(counts.items()) if isinstance(counts, Mapping) else list(enumerate(counts))
    total = sum(c for _, c in items)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in items:
        seen += count
        if seen >= rank:
            return EDGES_MS[index] if index < len(EDGES_MS) else float("inf")
    return float("inf")
