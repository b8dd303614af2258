"""Planning: the sample size an experiment needs, which tunes the sequential tests.

The fixed-horizon two-sample size for a relative minimum detectable effect δ
on a metric with coefficient of variation CV (σ/μ) per unit, two-sided α and
power 1 − β (Kohavi, Tang & Xu, "Trustworthy Online Controlled Experiments",
2020, ch. 17; the "16 σ²/Δ²" rule is this at α = 0.05, power 0.8):

    n per arm = 2 (z_{1−α/2} + z_{1−β})² CV² / δ²
"""

from __future__ import annotations

import math

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
