"""Sample ratio mismatch: Pearson's chi-square goodness of fit against the configured weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from scipy import stats as st

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
    expected = [total * w / weight_sum for _, w in pairs]
    chi2, p = st.chisquare([c for c, _ in pairs], expected)
    return SrmResult(float(p), float(chi2))
