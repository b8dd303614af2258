"""The normal–normal engine against the conjugate update and numerical integrals."""

from __future__ import annotations

import math

import pytest
from scipy import integrate
from scipy.stats import norm

from stats.bayesian import Prior, posterior
from stats.effects import Effect


def test_conjugate_update_by_hand() -> None:
    effect = Effect(0.04, 0.0004, 10000, math.inf, relative=True)
    result = posterior(effect, Prior(0.0, 0.0004))
    # equal precisions: the posterior mean halves the estimate, variance halves
    assert result.posterior_mean == pytest.approx(0.02)
    assert result.posterior_sd == pytest.approx(math.sqrt(0.0002))
    assert result.chance_to_win == pytest.approx(norm.cdf(0.02 / math.sqrt(0.0002)))


def test_expected_losses_match_numerical_integration() -> None:
    effect = Effect(-0.01, 0.0001, 10000, math.inf, relative=True)
    result = posterior(effect)  # flat prior: posterior N(-0.01, 0.01^2)
    density = norm(-0.01, 0.01).pdf
    shipped = integrate.quad(lambda t: max(0.0, -t) * density(t), -0.1, 0.1, points=[0.0])[0]
    kept = integrate.quad(lambda t: max(0.0, t) * density(t), -0.1, 0.1, points=[0.0])[0]
    assert result.loss_if_shipped == pytest.approx(shipped, rel=1e-7)
    assert result.loss_if_kept == pytest.approx(kept, rel=1e-7)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (-0.01 - 0.0195996, -0.01 + 0.0195996), rel=1e-5
    )


def test_bad_priors_are_refused() -> None:
    with pytest.raises(ValueError, match="prior variance"):
        Prior(0.0, 0.0)
    with pytest.raises(ValueError, match="credible"):
        posterior(Effect(0.0, 1.0, 10, math.inf, True), credible=1.0)
