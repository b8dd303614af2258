"""Bayesian normal–normal engine on an effect: chance to beat control and expected loss.

The effect's estimate is treated as θ̂ | θ ~ N(θ, V) with a prior
θ ~ N(μ₀, σ₀²) (flat when no prior is given), so the posterior is normal with
precision 1/σ₀² + 1/V and mean (μ₀/σ₀² + θ̂/V) / precision (conjugate update,
Gelman et al., "Bayesian Data Analysis", 3rd ed., eq. 2.12). As in
GrowthBook's Bayesian engine:

- chance to beat control  P(θ > 0) = Φ(μ/σ)
- expected loss of shipping the treatment  E[max(0, −θ)] = σ φ(μ/σ) − μ Φ(−μ/σ)
- expected loss of keeping control         E[max(0, θ)]  = σ φ(μ/σ) + μ Φ(μ/σ)

(the normal partial expectations). These are not error-controlling under
peeking; the decision loop never acts on them alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from stats.effects import Effect


@dataclass(frozen=True)
class Prior:
    mean: float = 0.0
    variance: float = math.inf  # flat

    def __post_init__(self) -> None:
        if not self.variance > 0:
            raise ValueError(f"prior variance must be > 0, got {self.variance}")


@dataclass(frozen=True)
class BayesResult:
    posterior_mean: float
    posterior_sd: float
    chance_to_win: float
    loss_if_shipped: float
    loss_if_kept: float
    ci_low: float
    ci_high: float


def posterior(effect: Effect, prior: Prior = Prior(), credible: float = 0.95) -> BayesResult:
    """Posterior summary of the effect under a normal prior."""
    if not 0 < credible < 1:
        raise ValueError(f"credible must be in (0, 1), got {credible}")
    if not effect.defined:
        return BayesResult(
            prior.mean, math.sqrt(prior.variance), 0.5, math.inf, math.inf, -math.inf, math.inf
        )
    precision = 1 / effect.variance + (0.0 if math.isinf(prior.variance) else 1 / prior.variance)
    prior_term = 0.0 if math.isinf(prior.variance) else prior.mean / prior.variance
    mu = (prior_term + effect.estimate / effect.variance) / precision
    sd = math.sqrt(1 / precision)
    z = mu / sd
    pdf = float(norm.pdf(z))
    half = float(norm.isf((1 - credible) / 2)) * sd
    return BayesResult(
        mu,
        sd,
        float(norm.cdf(z)),
        sd * pdf - mu * float(norm.cdf(-z)),
        sd * pdf + mu * float(norm.cdf(z)),
        mu - half,
        mu + half,
    )
