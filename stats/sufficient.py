"""Mergeable sufficient statistics of per-unit metrics.

A per-unit metric is held as ``(n, mean, m2)`` and a pair of per-unit values
(numerator and denominator of a ratio metric, or a metric and its pre-exposure
covariate) as ``(n, mean_x, mean_y, m2_x, m2_y, c_xy)``. Shards merge with
Chan, Golub & LeVeque's pairwise update ("Algorithms for computing the sample
variance", 1983, eq. 1.5b) and its co-moment form (Pébay, "Formulas for robust,
one-pass parallel computation of covariances", Sandia SAND2008-6212, eq. 3.2),
which never form ``sum_sq - sum**2 / n``. Integer sums, as Redis keeps them,
convert exactly through Python's big integers (:meth:`MeanStats.from_int_sums`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def _exact_m2(n: int, total: int, sum_sq: int) -> float:
    # n * m2 = n * sum_sq - total**2, exact in integers; one rounding at the division.
    return max(0, n * sum_sq - total * total) / n


@dataclass(frozen=True)
class MeanStats:
    """Count, mean and sum of squared deviations of one per-unit metric."""

    n: int
    mean: float
    m2: float

    @classmethod
    def empty(cls) -> MeanStats:
        return cls(0, 0.0, 0.0)

    @classmethod
    def from_int_sums(cls, n: int, total: int, sum_sq: int) -> MeanStats:
        """From integer sums of values and of squares; exact up to one rounding."""
        if n <= 0:
            return cls.empty()
        return cls(n, total / n, _exact_m2(n, total, sum_sq))

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanStats:
        """From raw per-unit values (two-pass, so as exact as the values allow)."""
        n = len(values)
        if n == 0:
            return cls.empty()
        mean = math.fsum(values) / n
        return cls(n, mean, math.fsum((v - mean) ** 2 for v in values))

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


@dataclass(frozen=True)
class PairStats:
    """Count, means, squared deviations and co-moment of two per-unit values x and y."""

    n: int
    mean_x: float
    mean_y: float
    m2_x: float
    m2_y: float
    c_xy: float  # sum of (x - mean_x)(y - mean_y)

    @classmethod
    def empty(cls) -> PairStats:
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_int_sums(
        cls, n: int, sum_x: int, sum_y: int, sum_xx: int, sum_yy: int, sum_xy: int
    ) -> PairStats:
        """From integer sums (x, y, x², y², xy); exact up to one rounding per field."""
        if n <= 0:
            return cls.empty()
        return cls(
            n,
            sum_x / n,
            sum_y / n,
            _exact_m2(n, sum_x, sum_xx),
            _exact_m2(n, sum_y, sum_yy),
            (n * sum_xy - sum_x * sum_y) / n,
        )

    @classmethod
    def of(cls, xs: Sequence[float], ys: Sequence[float]) -> PairStats:
        """From raw per-unit pairs (two-pass)."""
        if len(xs) != len(ys):
            raise ValueError(f"xs and ys differ in length: {len(xs)} != {len(ys)}")
        n = len(xs)
        if n == 0:
            return cls.empty()
        mx, my = math.fsum(xs) / n, math.fsum(ys) / n
        return cls(
            n,
            mx,
            my,
            math.fsum((x - mx) ** 2 for x in xs),
            math.fsum((y - my) ** 2 for y in ys),
            math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)),
        )

    def __add__(self, other: PairStats) -> PairStats:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = self.n * other.n / n
        return PairStats(
            n,
            self.mean_x + dx * other.n / n,
            self.mean_y + dy * other.n / n,
            self.m2_x + other.m2_x + dx * dx * w,
            self.m2_y + other.m2_y + dy * dy * w,
            self.c_xy + other.c_xy + dx * dy * w,
        )

    @property
    def x(self) -> MeanStats:
        return MeanStats(self.n, self.mean_x, self.m2_x)

    @property
    def y(self) -> MeanStats:
        return MeanStats(self.n, self.mean_y, self.m2_y)

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance; 0 below two units."""
        return self.c_xy / (self.n - 1) if self.n > 1 else 0.0
