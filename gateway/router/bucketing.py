"""Bucket ranges and variant choice, following GrowthBook's SDK semantics.

Variant ``i`` owns ``[c_i, c_i + coverage * w_i)`` where ``c_i`` is the sum of the
earlier weights. Raising coverage only extends each range from its fixed start,
so an included unit never moves to another variant.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.router.hashing import unit_hash

BucketRange = tuple[float, float]


def equal_weights(n: int) -> list[float]:
    """``n`` equal weights summing to 1; empty for ``n < 1``."""
    if n < 1:
        return []
    return [1.0 / n] * n


def bucket_ranges(weights: Sequence[float], coverage: float) -> list[BucketRange]:
    """Half-open ranges of [0, 1) for each variant.

    Inputs are trusted: config validation has already rejected coverage outside
    [0, 1] and weights that do not sum to 1 (GrowthBook would silently repair them).
    """
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variant(n: float, ranges: Sequence[BucketRange]) -> int:
    """Index of the range holding ``n``, or -1 when it falls in none."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def in_namespace(unit_id: str, namespace_id: str, start: float, end: float) -> bool:
    """Whether ``unit_id`` falls in ``[start, end)`` of the namespace (hash v1)."""
    n = unit_hash("__" + namespace_id, unit_id, 1)
    return n is not None and start <= n < end
