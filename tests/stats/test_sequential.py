"""The mixture SPRT against golden values from the paper's own (n, sigma^2) form."""

from __future__ import annotations

import math

import pytest

from stats.sequential import msprt
from stats.sufficient import MeanStats


def _arm(n: int, mean: float, variance: float) -> MeanStats:
    return MeanStats(n, mean, variance * (n - 1))


def _paper_lambda(n: int, sigma2: float, tau2: float, theta_hat: float) -> float:
    """Johari et al. (2017), eq. (11): equal arms of n, common variance sigma^2, theta0 = 0."""
    return math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n * n * tau2 * theta_hat**2 / (4 * sigma2 * (2 * sigma2 + n * tau2))
    )


@pytest.mark.parametrize(("n", "effect"), [(1000, 0.05), (5000, 0.01), (20000, 0.02), (400, 0.0)])
def test_p_value_matches_the_paper(n: int, effect: float) -> None:
    sigma2, tau2 = 0.25, 0.02**2
    result = msprt(_arm(n, 0.5, sigma2), _arm(n, 0.5 + effect, sigma2), alpha=0.05, tau2=tau2)
    expected = min(1.0, 1.0 / _paper_lambda(n, sigma2, tau2, effect))
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_golden_value_by_hand() -> None:
    # n=1000, sigma^2=0.25, tau^2=4e-4, theta_hat=0.05:
    # V = 5e-4; Lambda = sqrt(5e-4/9e-4) * exp(4e-4 * 2.5e-3 / (2 * 5e-4 * 9e-4)) = 0.745356 * e^(1.111111)
    result = msprt(_arm(1000, 0.5, 0.25), _arm(1000, 0.55, 0.25), alpha=0.05, tau2=4e-4)
    assert result.p_value == pytest.approx(1 / (0.7453559925 * math.exp(10 / 9)), rel=1e-9)


def test_interval_boundary_is_where_lambda_hits_one_over_alpha() -> None:
    sigma2, tau2, alpha, n = 0.2, 1e-4, 0.05, 3000
    result = msprt(_arm(n, 0.3, sigma2), _arm(n, 0.33, sigma2), alpha=alpha, tau2=tau2)
    for bound in (result.ci_low, result.ci_high):
        assert _paper_lambda(n, sigma2, tau2, result.effect - bound) == pytest.approx(
            1 / alpha, rel=1e-9
        )
    assert result.significant == (result.p_value <= alpha)


def test_too_few_units_is_never_significant() -> None:
    result = msprt(MeanStats(1, 0.0, 0.0), MeanStats(1, 1.0, 0.0), alpha=0.05, tau2=0.01)
    assert result.p_value == 1.0 and not result.significant


def test_rejects_bad_parameters() -> None:
    arm = _arm(10, 0.5, 0.25)
    with pytest.raises(ValueError, match="alpha"):
        msprt(arm, arm, alpha=1.5, tau2=0.01)
    with pytest.raises(ValueError, match="tau2"):
        msprt(arm, arm, alpha=0.05, tau2=0.0)
