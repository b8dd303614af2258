"""Multiple comparisons: every treatment arm against control.

- Holm, "A simple sequentially rejective multiple test procedure" (Scand. J.
  Statist. 6, 1979): controls the family-wise error rate under any dependence.
  Adjusted p_(i) = max_{j <= i} min(1, (m − j + 1) p_(j)).
- Benjamini & Hochberg (JRSS B 57, 1995): controls the false discovery rate
  for independent or positively dependent tests (arms sharing one control are
  positively dependent). Adjusted p_(i) = min_{j >= i} min(1, m p_(j) / j).

- Bonferroni: adjusted p = min(1, m p); every arm at level α/m.

Always-valid p-values stay valid at any stopping time, so their adjustment does
too (Johari, Pekelis & Walsh, "Always Valid Inference", Operations Research
70(3), 2022, section 5).

Intervals that agree with the decision. :func:`decision_levels` gives each
arm the significance level at which the procedure tested it, so that an arm
is significant exactly when its p-value is at most its level, and its
interval at that level excludes the null exactly then:

- Holm: the step-down tests rank r at α/(m − r + 1) until the first rank r*
  that fails; arms ranked after r* are reported at r*'s level, where they
  are not significant either.
- Benjamini–Hochberg: with R discoveries, the selected arms at R α / m — the
  false-coverage-rate adjusted intervals of Benjamini & Yekutieli ("False
  Discovery Rate-Adjusted Multiple Confidence Intervals for Selected
  Parameters", JASA 100, 2005, definition 1) — and the others at (R + 1) α / m.

Each arm's level is always one of :func:`level_set`'s, so an interval per
level can be carried from look to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Correction = Literal["holm", "benjamini-hochberg", "bonferroni", "none"]


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
    if correction == "bonferroni":
        return [min(1.0, float(p) * len(p_values)) for p in p_values]
    return [float(p) for p in p_values]


def level_set(m: int, alpha: float, correction: Correction) -> tuple[float, ...]:
    """Every level at which ``correction`` can test one of ``m`` arms."""
    if correction == "holm":
        return tuple(alpha / j for j in range(1, m + 1))
    if correction == "benjamini-hochberg":
        return tuple(k * alpha / m for k in range(1, m + 1))
    if correction == "bonferroni":
        return (alpha / m,)
    return (alpha,)


def decision_levels(p_values: Sequence[float], alpha: float, correction: Correction) -> list[float]:
    """Each arm's level under ``correction``: significant exactly when p ≤ its level."""
    m = len(p_values)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: p_values[i])
    levels = [0.0] * m
    if correction == "holm":
        stop = next((r for r, i in enumerate(order, 1) if p_values[i] > alpha / (m - r + 1)), m + 1)
        for r, i in enumerate(order, 1):
            levels[i] = alpha / (m - min(r, stop) + 1)
    elif correction == "benjamini-hochberg":
        found = max((k for k, i in enumerate(order, 1) if p_values[i] <= k * alpha / m), default=0)
        for r, i in enumerate(order, 1):
            levels[i] = (found if r <= found else found + 1) * alpha / m
    else:
        levels = [level_set(m, alpha, correction)[0]] * m
    return levels
