"""Asymptotic confidence sequences for an effect, as GrowthBook computes them.

Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit
theory and asymptotic confidence sequences" (Annals of Statistics, 2024;
arXiv 2103.06476, 2023), Theorem 2.2 with the normal-mixture boundary: with
σ̂² the per-unit variance of the estimate (its variance V times the total
units n), the two-sided (1 − α) asymptotic confidence sequence is

    θ̂ ± σ̂ √( 2 (n ρ² + 1) / (n² ρ²) · log( √(n ρ² + 1) / α ) )           (CS)

and ρ tightest at n = N* is ρ² = (−2 log α + log(−2 log α + 1)) / N*  (their
eq. for the optimal ρ; GrowthBook's ``sequentialTuningParameter`` is N*,
default 5 000). The matching always-valid p-value inverts the e-value
√(nρ² + 1)⁻¹ exp(ρ² t² / (2 (nρ² + 1))), t² = θ̂² / V. This is the normal
mixture of :mod:`stats.mixture` with τ² / V = n ρ², so the one-sided version
(for guardrails) is that module's half-normal mixture with the same τ².
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stats.effects import Effect
from stats.inference import Alternative, Inference, uninformative
from stats.mixture import Array, one_sided, two_sided

METHOD = "confidence-sequence"
GROWTHBOOK_DEFAULT_TUNING = 5_000


def rho_squared(alpha: float, tuning: float) -> float:
    """ρ² tightest at ``tuning`` = N* total units."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not tuning > 0:
        raise ValueError(f"tuning (N*) must be > 0, got {tuning}")
    two_log = -2 * math.log(alpha)
    return (two_log + math.log(two_log + 1)) / tuning


def halfwidth(variance: npt.ArrayLike, units: npt.ArrayLike, tuning: float, alpha: float) -> Array:
    """Half-width of (CS); ``variance`` is V, the effect's variance, ``units`` is n."""
    v, n = np.asarray(variance, dtype=np.float64), np.asarray(units, dtype=np.float64)
    r2 = rho_squared(alpha, tuning)
    nr = n * r2 + 1
    return np.asarray(np.sqrt(v * n) * np.sqrt(2 * nr / (n * n * r2) * np.log(np.sqrt(nr) / alpha)))


def tau2(variance: npt.ArrayLike, units: npt.ArrayLike, tuning: float, alpha: float) -> Array:
    """The normal-mixture τ² equivalent to (CS): τ² = V · n ρ²."""
    v, n = np.asarray(variance, dtype=np.float64), np.asarray(units, dtype=np.float64)
    return np.asarray(v * n * rho_squared(alpha, tuning))


def confidence_sequence(
    effect: Effect, alpha: float, tuning: float, null: float = 0.0
) -> Inference:
    """Two-sided always-valid interval and p-value of H0: effect == null.

    Equal to (CS) above: the mixture's half-width at τ² = V n ρ² is the same expression.
    """
    if not effect.defined or effect.units < 1:
        return uninformative(METHOD, effect.estimate, null)
    return two_sided(
        METHOD, effect, float(tau2(effect.variance, effect.units, tuning, alpha)), alpha, null
    )


def confidence_sequence_one_sided(
    effect: Effect, alpha: float, tuning: float, alternative: Alternative, null: float = 0.0
) -> Inference:
    """One-sided always-valid bound and p-value (see :func:`stats.sequential.msprt_one_sided`)."""
    if alternative == "two-sided":
        raise ValueError("confidence_sequence_one_sided needs alternative 'greater' or 'less'")
    if not effect.defined or effect.units < 1:
        return uninformative(METHOD, effect.estimate, null, alternative)
    t2 = float(tau2(effect.variance, effect.units, tuning, alpha))
    return one_sided(METHOD, effect, t2, alpha, alternative, null)
