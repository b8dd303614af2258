"""Bandit policies and allocation: floors, burn-in, seeding, and the formulas."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.bandit.allocation import allocate, apply_floor
from gateway.bandit.policies import MAX_RESAMPLES, ArmRewards, top_two, ucb1

ARMS = [
    ArmRewards.bernoulli(50, 1000),
    ArmRewards.bernoulli(70, 1000),
    ArmRewards.bernoulli(55, 1000),
]
POLICIES = ("thompson-bernoulli", "thompson-gaussian", "top-two-thompson", "ucb1")


@pytest.mark.parametrize("policy", POLICIES)
def test_floor_holds_and_weights_sum_to_one(policy: str) -> None:
    result = allocate(policy, ARMS, min_share=0.1, burn_in_units=0, seed=5)  # type: ignore[arg-type]
    assert sum(result.weights) == pytest.approx(1.0)
    assert min(result.weights) >= 0.1 - 1e-12
    assert int(np.argmax(result.weights)) == 1  # the best arm gets the most
    assert result.seed == 5


@pytest.mark.parametrize("policy", POLICIES)
def test_same_seed_same_weights(policy: str) -> None:
    first = allocate(policy, ARMS, min_share=0.05, burn_in_units=0, seed=11)  # type: ignore[arg-type]
    again = allocate(policy, ARMS, min_share=0.05, burn_in_units=0, seed=first.seed)  # type: ignore[arg-type]
    assert first == again


def test_different_seeds_differ_for_thompson() -> None:
    a = allocate("thompson-bernoulli", ARMS, min_share=0.0, burn_in_units=0, seed=1)
    b = allocate("thompson-bernoulli", ARMS, min_share=0.0, burn_in_units=0, seed=2)
    assert a.weights != b.weights


def test_burn_in_keeps_the_split_uniform() -> None:
    result = allocate("thompson-bernoulli", ARMS, min_share=0.0, burn_in_units=5000, seed=1)
    assert result.weights == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert "burn-in: 3000 of 5000" in result.reason


def test_thompson_probability_by_integration() -> None:
    # Two arms: P(B > A) for Beta(51, 951) vs Beta(71, 931), by numerical integration.
    from scipy import integrate
    from scipy.stats import beta

    a, b = beta(51, 951), beta(71, 931)
    exact = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), 0, 0.2, limit=200)[0]
    result = allocate(
        "thompson-bernoulli", ARMS[:2], min_share=0.0, burn_in_units=0, seed=3, draws=200_000
    )
    assert result.policy_shares[1] == pytest.approx(exact, abs=0.005)


def test_top_two_formula_by_hand() -> None:
    # alpha = (0.5, 0.3, 0.2), beta = 0.5:
    # psi_1 = 0.5 (0.5 + 0.5 (0.3/0.7 + 0.2/0.8)) = 0.4196...
    psi = top_two(np.array([0.5, 0.3, 0.2]), 0.5)
    raw = np.array(
        [
            0.5 * (0.5 + 0.5 * (0.3 / 0.7 + 0.2 / 0.8)),
            0.3 * (0.5 + 0.5 * (0.5 / 0.5 + 0.2 / 0.8)),
            0.2 * (0.5 + 0.5 * (0.5 / 0.5 + 0.3 / 0.7)),
        ]
    )
    assert psi == pytest.approx(raw / raw.sum())


def test_ucb1_plays_unplayed_arms_first_then_the_highest_index() -> None:
    assert list(ucb1([ArmRewards.bernoulli(5, 10), ArmRewards(0, 0.0)])) == [0.0, 1.0]
    # index = mean + sqrt(2 ln 2000 / n): 0.05 + 0.123 vs 0.07 + 0.123
    assert list(ucb1(ARMS[:2])) == [0.0, 1.0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="min_share"):
        apply_floor([0.5, 0.5], 0.6)
    with pytest.raises(ValueError, match="at least 2 arms"):
        allocate("ucb1", ARMS[:1], min_share=0.0, burn_in_units=0, seed=1)
    with pytest.raises(ValueError, match="successes"):
        ArmRewards.bernoulli(5, 3)
    with pytest.raises(ValueError, match="policy"):
        allocate("greedy", ARMS, min_share=0.0, burn_in_units=0, seed=1)  # type: ignore[arg-type]


def _bounded_top_two(alpha: list[float], beta: float, resamples: int) -> list[float]:
    """Russo's top-two sampler with at most ``resamples`` re-samples, summed term by term:
    the leader I ~ alpha is played with probability beta; otherwise alpha is re-sampled
    until an arm other than I comes up (J), or ``resamples`` times in vain (I is played)."""
    k = len(alpha)
    psi = [0.0] * k
    for i, a_i in enumerate(alpha):
        psi[i] += a_i * beta
        for r in range(resamples):  # the r-th re-sample is the first other than I
            for j in range(k):
                if j != i:
                    psi[j] += a_i * (1 - beta) * a_i**r * alpha[j]
        psi[i] += a_i * (1 - beta) * a_i**resamples
    return psi


@pytest.mark.parametrize(
    "alpha",
    [[0.5, 0.3, 0.2], [0.9999, 0.0001, 0.0], [1.0, 0.0, 0.0], [0.995, 0.004, 0.001], [0.25] * 4],
)
def test_top_two_is_the_bounded_sampler_in_closed_form(alpha: list[float]) -> None:
    expected = _bounded_top_two(alpha, 0.5, MAX_RESAMPLES)
    assert top_two(np.array(alpha), 0.5) == pytest.approx(expected, abs=1e-12)
    assert sum(expected) == pytest.approx(1.0)


def test_top_two_golden_values() -> None:
    # Computed independently (exact rationals, the sampler's terms summed one by one).
    assert top_two(np.array([0.9999, 0.0001, 0.0]), 0.5) == pytest.approx(
        [0.99497517, 0.00502483, 0.0], abs=1e-8
    )
    assert top_two(np.array([0.99, 0.01, 0.0]), 0.5) == pytest.approx(
        [0.68118601, 0.31881399, 0.0], abs=1e-8
    )


def test_top_two_is_continuous_at_a_certain_leader() -> None:
    # Issue 20 §6 D5: at P(best) = 1 the challengers' share was split equally
    # ([.5, .25, .25]) while [.9999, .0001, 0] gave [.5, .5, 0].
    certain = top_two(np.array([1.0, 0.0, 0.0]), 0.5)
    assert certain.tolist() == [1.0, 0.0, 0.0]
    for near in ([1 - 1e-9, 1e-9, 0.0], [1 - 1e-9, 5e-10, 5e-10]):
        assert top_two(np.array(near), 0.5) == pytest.approx(certain, abs=1e-6)
    # A near-certain loser gets next to nothing, wherever the leader stands.
    for alpha in ([0.9999, 0.0001, 0.0], [0.6, 0.3999, 0.0001], [0.5, 0.5 - 1e-6, 1e-6]):
        psi = top_two(np.array(alpha), 0.5)
        assert all(p <= (1 + 0.5 * MAX_RESAMPLES) * a for p, a in zip(psi, alpha, strict=True))


def test_a_certain_loser_keeps_only_the_floor() -> None:
    arms = [ArmRewards.bernoulli(1500, 5000), ArmRewards.bernoulli(1000, 5000),
            ArmRewards.bernoulli(500, 5000)]  # fmt: skip
    result = allocate("top-two-thompson", arms, min_share=0.05, burn_in_units=0, seed=3)
    assert result.policy_shares == pytest.approx((1.0, 0.0, 0.0))
    assert result.weights == pytest.approx((0.9, 0.05, 0.05))
