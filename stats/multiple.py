"""Multiple comparisons: every treatment arm against control.

- Holm, "A simple sequentially rejective multiple test procedure" (Scand. J.
  Statist. 6, 1979): controls the family-wise error rate under any dependence.
  Adjusted p_(i) = max_{j <= i} min(1, (m − j + 1) p_(j)).
- Benjamini & Hochberg (JRSS B 57, 1995): controls the false discovery rate
  for independent or positively dependent tests (arms sharing one control are
  positively dependent). Adjusted p_(i) = min_{j >= i} min(1, m p_(j) / j).

Always-valid p-values stay valid at any stopping time, so their adjustment does too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Correction = Literal["holm", "benjamini-hochberg", "none"]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(x) for x in adjusted]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return [float(x) for x in adjusted]


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    """Adjusted p-values under ``correction``."""
    if correction == "holm":
        return holm(p_values)
    if correction == "benjamini-hochberg":
        return benjamini_hochberg(p_values)
    return [float(p) for p in p_values]
