"""Pure: a fixed log-spaced latency histogram (milliseconds) and its percentiles.

Every gateway process counts into the same buckets, so counts from many processes add up
exactly in Redis; a percentile is read as the upper edge of the bucket it falls in (an
over-estimate of at most one bucket's width, ~4.4 %).

The buckets are 16 to a doubling: fine enough that the latency guardrail's test, which reads
each arm's quantile conservatively to a bucket edge (:mod:`stats.quantile_sequence`), can tell
a +10 % regression of the p99 (with 2**(1/4)-wide buckets, the grid before, it could not:
two quantiles 10 % apart often fall in one bucket). The grid has a name, written in every
field (``FIELD``): a new grid takes a new name, so counts from gateways of another version
are left out rather than read on the wrong grid.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Final

PER_DOUBLING: Final = 16
# Upper edges, 0.1 ms to ~62 s, 2**(1/16) apart; the last bucket is open.
EDGES_MS: Final = tuple(round(0.1 * 2 ** (i / PER_DOUBLING), 5) for i in range(309))
FIELD: Final = "lat16"  # "<variant>:lat16:<bucket>" in the ops hashes


def bucket(latency_ms: float) -> int:
    """The bucket of one observation: the first whose upper edge is at least it."""
    return bisect.bisect_left(EDGES_MS, latency_ms)


def latency_field(latency_ms: float) -> str:
    """The counter's field name for one observation (after its variant)."""
    return f"{FIELD}:{bucket(latency_ms)}"


def field_bucket(name: str) -> int | None:
    """The bucket of a field named by :func:`latency_field`; None for any other field (another
    counter, or a bucket of another grid)."""
    grid, _, index = name.partition(":")
    return int(index) if grid == FIELD and index.isdigit() else None


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
