"""Always-valid inference for a difference in means: the mixture SPRT.

Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests" (KDD 2017), and
"Always Valid Inference" (Operations Research 2022), section 4: with a normal
mixing distribution N(theta0, tau^2) over the effect theta, and V the variance
of the difference estimator, the mixture likelihood ratio is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (theta_hat - theta0)^2 / (2 V (V + tau^2)))

(their eq. (11) with V = 2 sigma^2 / n). ``p = min(1, 1 / Lambda)`` is an
always-valid p-value, and inverting ``Lambda < 1 / alpha`` gives the
always-valid confidence interval

    theta_hat +- sqrt(V (V + tau^2) / tau^2 * (2 log(1 / alpha) + log((V + tau^2) / V))).

Stopping the first time p <= alpha keeps the type-I error at or below alpha
however often the test is looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stats.sufficient import MeanStats


@dataclass(frozen=True)
class SequentialResult:
    control_mean: float
    treatment_mean: float
    effect: float  # treatment - control
    relative_lift: float  # effect / control_mean (nan if control mean is 0)
    ci_low: float
    ci_high: float
    p_value: float  # always valid
    variance: float  # V, the variance of the effect estimate

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def msprt(control: MeanStats, treatment: MeanStats, alpha: float, tau2: float) -> SequentialResult:
    """Mixture SPRT of H0: treatment mean == control mean (eq. 11 above)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tau2 <= 0:
        raise ValueError(f"tau2 must be > 0, got {tau2}")
    effect = treatment.mean - control.mean
    lift = effect / control.mean if control.mean else math.nan
    if control.n < 2 or treatment.n < 2:
        return SequentialResult(
            control.mean, treatment.mean, effect, lift, -math.inf, math.inf, 1.0, math.inf
        )
    v = control.variance / control.n + treatment.variance / treatment.n
    if v <= 0:
        return SequentialResult(
            control.mean, treatment.mean, effect, lift, -math.inf, math.inf, 1.0, 0.0
        )
    log_lambda = 0.5 * math.log(v / (v + tau2)) + tau2 * effect * effect / (2 * v * (v + tau2))
    p = 1.0 if log_lambda <= 0 else min(1.0, math.exp(-log_lambda))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return SequentialResult(
        control.mean, treatment.mean, effect, lift, effect - half, effect + half, p, v
    )
