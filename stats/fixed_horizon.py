"""Fixed-horizon tests, valid only when analysed once at a sample size fixed in advance.

Kept for comparison: peeking at them at every look is exactly what inflates
the false-positive rate (the simulation study in ``docs/stats-validation.md``).

- z-test on the effect's normal approximation.
- Welch's t-test (Welch 1947) with Welch–Satterthwaite degrees of freedom,
  the same as ``scipy.stats.ttest_ind_from_stats(equal_var=False)``.
"""

from __future__ import annotations

import math

from scipy.stats import norm
from scipy.stats import t as student_t

from stats.effects import Effect
from stats.inference import Alternative, Inference, uninformative


def _test(
    method: str, effect: Effect, alpha: float, alternative: Alternative, null: float, dist: object
) -> Inference:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not effect.defined:
        return uninformative(method, effect.estimate, null, alternative)
    se = effect.standard_error
    stat = (effect.estimate - null) / se
    sf, isf = dist.sf, dist.isf  # type: ignore[attr-defined]
    if alternative == "two-sided":
        half = float(isf(alpha / 2)) * se
        return Inference(
            method,
            effect.estimate,
            effect.estimate - half,
            effect.estimate + half,
            float(min(1.0, 2 * sf(abs(stat)))),
            null,
            alternative,
        )
    margin = float(isf(alpha)) * se
    if alternative == "greater":
        return Inference(
            method,
            effect.estimate,
            effect.estimate - margin,
            math.inf,
            float(sf(stat)),
            null,
            alternative,
        )
    return Inference(
        method,
        effect.estimate,
        -math.inf,
        effect.estimate + margin,
        float(sf(-stat)),
        null,
        alternative,
    )


def z_test(
    effect: Effect, alpha: float, alternative: Alternative = "two-sided", null: float = 0.0
) -> Inference:
    """Normal-approximation test of the effect against ``null``."""
    return _test("z-test", effect, alpha, alternative, null, norm)


def welch_test(
    effect: Effect, alpha: float, alternative: Alternative = "two-sided", null: float = 0.0
) -> Inference:
    """Welch's unequal-variance t-test of the effect against ``null``."""
    dof = effect.dof if math.isfinite(effect.dof) else 1e12
    return _test("welch", effect, alpha, alternative, null, student_t(dof))
