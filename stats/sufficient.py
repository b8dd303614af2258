"""Mergeable sufficient statistics of a per-unit metric.

Held as (n, mean, m2) and merged with Chan, Golub & LeVeque's pairwise update
(1979, eq. 2.1), which avoids the ``sum_sq - sum**2 / n`` cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeanStats:
    n: int
    mean: float
    m2: float  # sum of squared deviations from the mean

    @classmethod
    def empty(cls) -> MeanStats:
        return cls(0, 0.0, 0.0)

    @classmethod
    def from_sums(cls, n: int, total: float, sum_sq: float) -> MeanStats:
        """From raw sums (as Redis accumulates them); clamps the round-off that can make m2 < 0."""
        if n <= 0:
            return cls.empty()
        mean = total / n
        return cls(n, mean, max(0.0, sum_sq - total * mean))

    @classmethod
    def of(cls, values: list[float]) -> MeanStats:
        out = cls.empty()
        for v in values:
            out = out + cls(1, float(v), 0.0)
        return out

    def __add__(self, other: MeanStats) -> MeanStats:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return MeanStats(n, mean, m2)

    @property
    def variance(self) -> float:
        """Unbiased sample variance; 0 below two units."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0
