"""Normal-mixture likelihood ratios of a Gaussian estimate: the engine under both sequential tests.

For an estimate θ̂ ~ N(θ, V) and a null θ₀, mixing the likelihood ratio
LR(θ) = exp((θ − θ₀)(θ̂ − θ₀)/V − (θ − θ₀)²/(2V)) over θ − θ₀ ~ N(0, τ²) gives
(Robbins 1970; Johari et al. 2017, eq. 11)

    log Λ = ½ log(V / (V + τ²)) + τ² d² / (2 V (V + τ²)),   d = θ̂ − θ₀,

and over the half-normal 2 φ(θ/τ)/τ on θ − θ₀ > 0 (one-sided; completing the
square in the same integral)

    log Λ⁺ = log 2 + ½ log(V / (V + τ²)) + x²/2 + log Φ(x),   x = d τ / √(V (V + τ²)).

Both are non-negative martingales under the null, so by Ville's inequality
P(sup Λ ≥ 1/α) ≤ α: p = min(1, 1/Λ) is always valid, and the θ₀ with
Λ(θ₀) < 1/α form a confidence sequence. All functions here take and return
numpy arrays so the simulation study runs exactly this code.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr

from stats.effects import Effect
from stats.inference import Alternative, Inference, uninformative

Array = npt.NDArray[np.float64]


def log_lr_two_sided(diff: npt.ArrayLike, variance: npt.ArrayLike, tau2: npt.ArrayLike) -> Array:
    """log Λ for the normal mixture (equation above)."""
    d, v, t = (np.asarray(a, dtype=np.float64) for a in (diff, variance, tau2))
    return np.asarray(0.5 * np.log(v / (v + t)) + t * d * d / (2 * v * (v + t)))


def halfwidth_two_sided(variance: npt.ArrayLike, tau2: npt.ArrayLike, alpha: float) -> Array:
    """The d at which log Λ = log(1/α): √(V (V + τ²)/τ² · (2 log(1/α) + log((V + τ²)/V)))."""
    v, t = np.asarray(variance, dtype=np.float64), np.asarray(tau2, dtype=np.float64)
    return np.asarray(np.sqrt(v * (v + t) / t * (2 * np.log(1 / alpha) + np.log((v + t) / v))))


def log_lr_one_sided(diff: npt.ArrayLike, variance: npt.ArrayLike, tau2: npt.ArrayLike) -> Array:
    """log Λ⁺ for the half-normal mixture on positive effects (equation above)."""
    d, v, t = (np.asarray(a, dtype=np.float64) for a in (diff, variance, tau2))
    x = d * np.sqrt(t) / np.sqrt(v * (v + t))
    return np.asarray(np.log(2.0) + 0.5 * np.log(v / (v + t)) + 0.5 * x * x + log_ndtr(x))


def margin_one_sided(variance: npt.ArrayLike, tau2: npt.ArrayLike, alpha: float) -> Array:
    """The d at which log Λ⁺ = log(1/α) (Λ⁺ increases in d, so this is the one-sided bound).

    Solves x²/2 + log Φ(x) = K by Newton's method: the left side is convex and
    increasing, so iterates started right of the root fall onto it monotonically.
    """
    v, t = np.asarray(variance, dtype=np.float64), np.asarray(tau2, dtype=np.float64)
    k = np.log(1 / alpha) - np.log(2.0) - 0.5 * np.log(v / (v + t))
    x = np.sqrt(2 * (k + np.log(2.0))) + 1.0
    for _ in range(50):
        log_phi = -0.5 * x * x - 0.5 * np.log(2 * np.pi)
        g = 0.5 * x * x + log_ndtr(x) - k
        x = x - g / (x + np.exp(log_phi - log_ndtr(x)))
    return np.asarray(x * np.sqrt(v * (v + t)) / np.sqrt(t))


def two_sided(method: str, effect: Effect, tau2: float, alpha: float, null: float) -> Inference:
    """The always-valid p-value and interval of H0: effect == null under mixing variance τ²."""
    if not effect.defined:
        return uninformative(method, effect.estimate, null)
    log_lr = float(log_lr_two_sided(effect.estimate - null, effect.variance, tau2))
    half = float(halfwidth_two_sided(effect.variance, tau2, alpha))
    p = 1.0 if log_lr <= 0 else math.exp(-log_lr)
    return Inference(
        method, effect.estimate, effect.estimate - half, effect.estimate + half, p, null
    )


def one_sided(
    method: str, effect: Effect, tau2: float, alpha: float, alternative: Alternative, null: float
) -> Inference:
    """The always-valid one-sided p-value and bound (half-normal mixture on the alternative's side)."""
    if alternative == "two-sided":
        raise ValueError(f"{method} one-sided test needs alternative 'greater' or 'less'")
    if not effect.defined:
        return uninformative(method, effect.estimate, null, alternative)
    sign = 1.0 if alternative == "greater" else -1.0
    log_lr = float(log_lr_one_sided(sign * (effect.estimate - null), effect.variance, tau2))
    margin = float(margin_one_sided(effect.variance, tau2, alpha))
    p = 1.0 if log_lr <= 0 else math.exp(-log_lr)
    if alternative == "greater":
        low, high = effect.estimate - margin, math.inf
    else:
        low, high = -math.inf, effect.estimate + margin
    return Inference(method, effect.estimate, low, high, p, null, alternative)
