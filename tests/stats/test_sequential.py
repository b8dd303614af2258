"""The mixture SPRT against golden values from the paper's own (n, sigma^2) form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from stats.effects import ArmEstimate, Effect, absolute_effect
from stats.sequential import msprt, msprt_one_sided, tau2_for_horizon


def _effect(n: int, sigma2: float, theta_hat: float) -> Effect:
    control = ArmEstimate(n, 0.5, sigma2 / n)
    return absolute_effect(control, ArmEstimate(n, 0.5 + theta_hat, sigma2 / n))


def _paper_lambda(n: int, sigma2: float, tau2: float, theta_hat: float) -> float:
    """Johari et al. (2017), eq. (11): equal arms of n, common variance sigma^2, theta0 = 0."""
    return math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n * n * tau2 * theta_hat**2 / (4 * sigma2 * (2 * sigma2 + n * tau2))
    )


@pytest.mark.parametrize(("n", "effect"), [(1000, 0.05), (5000, 0.01), (20000, 0.02), (400, 0.0)])
def test_p_value_matches_the_paper(n: int, effect: float) -> None:
    sigma2, tau2 = 0.25, 0.02**2
    result = msprt(_effect(n, sigma2, effect), alpha=0.05, tau2=tau2)
    expected = min(1.0, 1.0 / _paper_lambda(n, sigma2, tau2, effect))
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_golden_value_by_hand() -> None:
    # n=1000, sigma^2=0.25, tau^2=4e-4, theta_hat=0.05:
    # V = 5e-4; Lambda = sqrt(5e-4/9e-4) * exp(4e-4 * 2.5e-3 / (2 * 5e-4 * 9e-4)) = 0.745356 * e^(10/9)
    result = msprt(_effect(1000, 0.25, 0.05), alpha=0.05, tau2=4e-4)
    assert result.p_value == pytest.approx(1 / (0.7453559925 * math.exp(10 / 9)), rel=1e-9)


def test_interval_boundary_is_where_lambda_hits_one_over_alpha() -> None:
    sigma2, tau2, alpha, n = 0.2, 1e-4, 0.05, 3000
    result = msprt(_effect(n, sigma2, 0.03), alpha=alpha, tau2=tau2)
    for bound in (result.ci_low, result.ci_high):
        assert _paper_lambda(n, sigma2, tau2, result.estimate - bound) == pytest.approx(
            1 / alpha, rel=1e-9
        )
    assert result.rejects == (result.p_value <= alpha)


def _half_normal_lambda(d: float, v: float, tau2: float) -> float:
    """The one-sided mixture by numerical integration, independent of the closed form."""
    tau = math.sqrt(tau2)

    def integrand(theta: float) -> float:
        return math.exp(theta * d / v - theta * theta / (2 * v)) * 2 * norm.pdf(theta / tau) / tau

    return float(integrate.quad(integrand, 0, 12 * tau, limit=200)[0])


@pytest.mark.parametrize("d", [-0.01, 0.0, 0.005, 0.02])
def test_one_sided_closed_form_matches_numerical_integration(d: float) -> None:
    v, tau2 = 2.5e-5, 1e-4
    effect = Effect(d, v, 20000, math.inf, relative=False)
    result = msprt_one_sided(effect, alpha=0.05, tau2=tau2, alternative="greater")
    assert result.p_value == pytest.approx(min(1.0, 1 / _half_normal_lambda(d, v, tau2)), rel=1e-6)
    # the lower bound is where the mixture reaches 1/alpha
    assert _half_normal_lambda(d - result.ci_low, v, tau2) == pytest.approx(20.0, rel=1e-6)
    assert result.ci_high == math.inf


def test_one_sided_less_mirrors_greater_and_shifts_with_the_null() -> None:
    effect = Effect(-0.06, 1e-4, 10000, math.inf, relative=True)
    less = msprt_one_sided(effect, 0.05, 1e-4, "less", null=-0.01)
    mirrored = msprt_one_sided(
        Effect(0.06, 1e-4, 10000, math.inf, relative=True), 0.05, 1e-4, "greater", null=0.01
    )
    assert less.p_value == pytest.approx(mirrored.p_value)
    assert less.ci_high == pytest.approx(-mirrored.ci_low)
    assert less.rejects == (less.p_value <= 0.05) and less.rejects


def test_one_sided_is_valid_under_continuous_monitoring() -> None:
    # 4000 Gaussian random walks at the null, 400 looks: crossing rate <= alpha (+ noise).
    rng = np.random.default_rng(1)
    n = np.arange(1, 401)
    walks = np.cumsum(rng.standard_normal((4000, 400)), axis=1) / n  # mean of n unit draws
    v = 1 / n
    tau2 = tau2_for_horizon(1.0, 200, 0.05)
    crossed = np.zeros(4000, dtype=bool)
    for k in range(400):
        e = Effect(0.0, float(v[k]), int(n[k]), math.inf, relative=False)
        bound = msprt_one_sided(e, 0.05, tau2, "greater").ci_low  # = -margin
        crossed |= walks[:, k] >= -bound
    rate = crossed.mean()
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 4000)
    assert rate > 0.005  # and not vacuous


def test_too_few_units_is_never_significant() -> None:
    result = msprt(Effect(1.0, math.inf, 2, math.inf, relative=False), alpha=0.05, tau2=0.01)
    assert result.p_value == 1.0 and not result.rejects


def test_rejects_bad_parameters() -> None:
    effect = _effect(10, 0.25, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        msprt(effect, alpha=1.5, tau2=0.01)
    with pytest.raises(ValueError, match="tau2"):
        msprt(effect, alpha=0.05, tau2=0.0)
    with pytest.raises(ValueError, match="alternative"):
        msprt_one_sided(effect, 0.05, 0.01, "two-sided")
    with pytest.raises(ValueError, match="horizon"):
        tau2_for_horizon(1.0, 0, 0.05)
