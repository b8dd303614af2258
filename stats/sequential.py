"""The mixture sequential probability ratio test (mSPRT) on an effect.

Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests: Why it matters, and
what to do about it" (KDD 2017), eq. (11), and "Always Valid Inference"
(Operations Research 70(3), 2022), section 4: a normal mixing distribution
N(θ₀, τ²) over the effect gives the mixture likelihood ratio Λ of
:mod:`stats.mixture`; p = min(1, 1/Λ) is an always-valid p-value and
{θ₀ : Λ(θ₀) < 1/α} an always-valid confidence interval. The same holds for the
relative lift, whose delta-method estimate is asymptotically normal.

τ² sets where the test is most sensitive. :func:`tau2_for_horizon` tunes it to
the experiment's expected sample size with the optimal mixing variance of
Waudby-Smith et al. (2023) (see :mod:`stats.confidence_sequence`), instead of a
fixed small constant that spends the test's power in its first few thousand units.
"""

from __future__ import annotations

from stats.confidence_sequence import rho_squared
from stats.effects import Effect
from stats.inference import Alternative, Inference
from stats.mixture import one_sided, two_sided

METHOD = "msprt"


def _check(alpha: float, tau2: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not tau2 > 0:
        raise ValueError(f"tau2 must be > 0, got {tau2}")


def tau2_for_horizon(unit_variance: float, horizon_units: float, alpha: float) -> float:
    """Mixing variance tightest at ``horizon_units`` total units.

    ``unit_variance`` is the effect's variance times the total units (V · N), so
    V = unit_variance / N; then τ² / V = N ρ², which matches the confidence
    sequence with tuning N* = horizon_units.
    """
    if not horizon_units > 0:
        raise ValueError(f"horizon_units must be > 0, got {horizon_units}")
    return unit_variance * rho_squared(alpha, horizon_units)


def msprt(effect: Effect, alpha: float, tau2: float, null: float = 0.0) -> Inference:
    """Two-sided mSPRT of H0: effect == null."""
    _check(alpha, tau2)
    return two_sided(METHOD, effect, tau2, alpha, null)


def msprt_one_sided(
    effect: Effect, alpha: float, tau2: float, alternative: Alternative, null: float = 0.0
) -> Inference:
    """One-sided mSPRT (half-normal mixture on the alternative's side).

    ``alternative="less"`` tests H0: effect >= null, e.g. a guardrail breach
    with ``null = -margin``; ``"greater"`` tests H0: effect <= null, e.g.
    non-inferiority with ``null = -margin``.
    """
    _check(alpha, tau2)
    return one_sided(METHOD, effect, tau2, alpha, alternative, null)
