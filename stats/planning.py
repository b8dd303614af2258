"""Planning: the sample size an experiment needs, which tunes the sequential tests.

The fixed-horizon two-sample size for a relative minimum detectable effect δ
on a metric with coefficient of variation CV (σ/μ) per unit, two-sided α and
power 1 − β (Kohavi, Tang & Xu, "Trustworthy Online Controlled Experiments",
2020, ch. 17; the "16 σ²/Δ²" rule is this at α = 0.05, power 0.8):

    n per arm = 2 (z_{1−α/2} + z_{1−β})² CV² / δ²
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.stats import norm


def units_per_arm(cv2: float, mde: float, alpha: float, power: float = 0.8) -> int:
    """Units per arm for a fixed-horizon test to detect a relative lift ``mde``."""
    if not cv2 > 0:
        raise ValueError(f"cv2 must be > 0, got {cv2}")
    if not mde > 0:
        raise ValueError(f"mde must be > 0, got {mde}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    z = float(norm.isf(alpha / 2) + norm.isf(1 - power))
    return math.ceil(2 * z * z * cv2 / (mde * mde))


def risk_aware_power(power: float, guardrails: int) -> float:
    """The success metric's power when ``guardrails`` non-inferiority tests must also pass:
    1 − (1 − power) / (G + 1), so that the chance that the whole decision rule ships a true
    effect stays at ``power`` (Schultzberg, Ankargren & Frånberg, "Risk-aware product
    decisions in A/B tests with multiple metrics", 2024, section 4: β split over the
    success test and the G guardrails)."""
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if guardrails < 0:
        raise ValueError(f"guardrails must be >= 0, got {guardrails}")
    return 1 - (1 - power) / (guardrails + 1)


def units_to_conclude(
    halfwidth: Callable[[float], float], effect: float, at_most: float = 1e12
) -> float | None:
    """The fewest units n at which an always-valid interval of half-width ``halfwidth(n)``
    around an estimate equal to ``effect`` excludes 0: when the test concludes, on average,
    if the true effect is ``effect`` (the median crossing: the estimate is as likely above as
    below it). ``halfwidth`` must shrink as n grows; None if it is still wider at ``at_most``."""
    target = abs(effect)
    if not target > 0:
        raise ValueError(f"effect must be non-zero, got {effect}")
    if halfwidth(at_most) > target:
        return None
    low, high = 1.0, at_most
    if halfwidth(low) <= target:
        return low
    while high - low > max(1.0, 1e-6 * low):
        mid = math.sqrt(low * high) if high > 4 * low else (low + high) / 2
        if halfwidth(mid) > target:
            low = mid
        else:
            high = mid
    return high
