"""Sample ratio mismatch: Pearson's chi-square goodness of fit against the configured weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from scipy import special

SRM_P_THRESHOLD: Final = 0.001


@dataclass(frozen=True)
class SrmResult:
    p_value: float
    chi2: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_P_THRESHOLD


def srm_check(counts: Sequence[int], weights: Sequence[float]) -> SrmResult:
    """Chi-square test of observed unit counts against expected shares (arms of weight 0 skipped)."""
    pairs = [(c, w) for c, w in zip(counts, weights, strict=True) if w > 0]
    total = sum(c for c, _ in pairs)
    if len(pairs) < 2 or total == 0:
        return SrmResult(1.0, 0.0)
    weight_sum = sum(w for _, w in pairs)
    # Pearson's X² = Σ (observed − expected)² / expected, on k − 1 degrees of freedom
    # (scipy.stats.chisquare's statistic, without its per-call overhead: the worker runs this
    # at every evaluation of every experiment).
    chi2 = 0.0
    for count, weight in pairs:
        expected = total * weight / weight_sum
        chi2 += (count - expected) ** 2 / expected
    return SrmResult(float(special.chdtrc(len(pairs) - 1, chi2)), chi2)
