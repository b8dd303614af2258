"""The always-valid quantile test: golden values computed independently (mpmath at 50 to 400
digits, from the integrals' definitions), the infimum over x against a brute-force search,
and its error rates by simulation under continuous monitoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats.quantile_sequence import (
    concentration,
    excess_p_value,
    log_betainc,
    log_mixture,
    quantile_ratio_test,
)

# mpmath, mp.dps = 50: mp.log(mp.betainc(a, b, 0, x, regularized=True)).
LOG_BETAINC = [
    (2.5, 3.0, 0.3, -1.421973130057864),
    (50.0, 5.0, 0.2, -68.68048030357538),
    (20015.0, 1563.0, 0.01, -86587.40910127008),  # scipy's value underflows to 0 here
    (1563.0, 20015.0, 0.99, 0.0),
]


@pytest.mark.parametrize(("a", "b", "x", "expected"), LOG_BETAINC)
def test_log_incomplete_beta_matches_mpmath(a: float, b: float, x: float, expected: float) -> None:
    got = log_betainc(np.array([a]), np.array([b]), x)[0]
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


R99 = 15.632728557782041  # concentration(0.99, 10_000, 0.05), checked below
# mpmath (mp.dps = 50 to 400): log of the mixture's definition (M), the integrals over [p, 1]
# or [0, p] of q^(a+k−1) (1 − q)^(b+n−k−1) over those of the prior, a = r/(1 − p), b = r/p,
# less k log p + (n − k) log(1 − p).
LOG_MIXTURE = [
    (19, 20, 0.5, 2.0, "above", 6.589274383065372),
    (3, 20, 0.5, 2.0, "below", 3.8520955576704217),
    (995, 1000, 0.99, R99, "above", 0.8667372115653099),
    (960, 1000, 0.99, R99, "below", 13.357091795598324),
    (980, 1000, 0.99, R99, "above", -1.3888986366451008),
    (10, 20000, 0.99, R99, "above", -8.813181363615486),  # far tails: in log space
    (19990, 20000, 0.99, R99, "below", -4.041049080555259),
    (19000, 20000, 0.99, R99, "above", -5.60519362307986),
    # two-sided, S = [0, 1]: log B(a + k, b + n − k) / B(a, b) − k log p − (n − k) log(1 − p)
    (19, 20, 0.5, 2.0, "both", 5.8962825889850485),
    (1000, 1000, 0.99, R99, "both", 2.2708053394546672),
    (9900, 10000, 0.99, R99, "both", -1.000740783363255),
    (9800, 10000, 0.99, R99, "both", 33.464551315378465),
]


@pytest.mark.parametrize(("k", "n", "p", "r", "side", "expected"), LOG_MIXTURE)
def test_beta_binomial_mixture_matches_mpmath(
    k: int, n: int, p: float, r: float, side: str, expected: float
) -> None:
    got = log_mixture([k], n, p, r, side)[0]  # type: ignore[arg-type]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_concentration_is_the_normal_mixture_tuning() -> None:
    # v* = 10 000 · 0.99 · 0.01 = 99; 2 log(1/(2·0.05)) = 4.60517; ρ = 99 / (4.60517 +
    # log(5.60517)) = 15.64263; r = ρ − 0.0099.
    assert concentration(0.99, 10_000, 0.05) == pytest.approx(R99, rel=1e-12)
    assert concentration(0.99, 10_000, 0.05) == pytest.approx(15.64263 - 0.0099, rel=1e-5)
    with pytest.raises(ValueError, match="quantile must be in"):
        concentration(1.0, 10, 0.05)


EDGES = (1.0, 2.0, 4.0, 8.0, 16.0)


def _brute_log_evidence(
    control: list[int], treatment: list[int], margin: float, p: float = 0.9, alpha: float = 0.05
) -> float:
    """inf over a dense grid of x of the product, the counts the buckets allow taken bucket by
    bucket in plain loops and the treatment's factor minimised over every one of them (an
    implementation independent of the module's)."""
    r = concentration(p, 10_000, alpha)
    lower = [0.0, *EDGES]
    upper = [*EDGES, math.inf]
    n_t, n_c = sum(treatment), sum(control)
    both = log_mixture(np.arange(n_t + 1), n_t, p, r, "both")
    best = math.inf
    grid = np.geomspace(0.01, 1000.0, 2_000)
    for x in np.concatenate((grid, EDGES, np.multiply(EDGES, margin))):
        wholly = sum(c for c, hi in zip(treatment, upper, strict=True) if hi <= x)
        maybe = sum(c for c, lo in zip(treatment, lower, strict=True) if lo < x)
        k_c = sum(c for c, hi in zip(control, upper, strict=True) if margin * hi <= x)
        value = min(both[wholly : maybe + 1]) + log_mixture([k_c], n_c, p, r, "above")[0]
        best = min(best, value)
    return best


@pytest.mark.parametrize(
    ("control", "treatment", "margin"),
    [
        ([40, 300, 50, 10, 0, 0], [0, 20, 300, 70, 10, 0], 1.0),
        ([40, 300, 50, 10, 0, 0], [0, 20, 300, 70, 10, 0], 1.5),
        ([0, 10, 300, 80, 10, 0], [0, 10, 300, 80, 10, 0], 1.0),
        ([5, 50, 30, 0, 0, 0], [0, 0, 10, 40, 30, 5], 2.0),
    ],
)
def test_the_infimum_over_x_matches_a_brute_force_search(
    control: list[int], treatment: list[int], margin: float
) -> None:
    test = quantile_ratio_test(control, treatment, EDGES, quantile=0.9, margin=margin)
    expected = _brute_log_evidence(control, treatment, margin)
    assert test.p_value == pytest.approx(min(1.0, math.exp(-expected)), rel=1e-9)
    assert test.breached == (expected >= math.log(20))
    assert excess_p_value(control, treatment, EDGES, quantile=0.9, margin=margin) == test.p_value


def test_clear_cases_and_the_interval() -> None:
    control, treatment = [0, 950, 50, 0, 0, 0], [0, 0, 0, 950, 50, 0]
    slow = quantile_ratio_test(control, treatment, EDGES, quantile=0.9)
    assert slow.breached and slow.p_value < 1e-6
    assert slow.control == 2.0 and slow.treatment == 8.0 and slow.ratio == 4.0
    # The treatment's p90 lies in (4, 8], the control's in (1, 2]: the ratio in (2, 8).
    assert slow.ci_low == pytest.approx(2.0, rel=1e-3) and slow.ci_low <= 2.0
    assert slow.ci_high == pytest.approx(8.0, rel=1e-3) and slow.ci_high >= 8.0
    assert not quantile_ratio_test(control, treatment, EDGES, quantile=0.9, margin=2.01).breached
    empty = quantile_ratio_test([0] * 6, [0] * 6, EDGES)
    assert (empty.ratio, empty.ci_low, empty.ci_high, empty.breached) == (
        None,
        0.0,
        math.inf,
        False,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": 0.0}, "margin must be a finite number > 0, got 0.0"),
        ({"edges": (2.0, 1.0)}, "edges must be positive and strictly rising"),
        ({"control": [1, -1]}, "a bucket count is negative"),
        ({"control": [1] * 9}, "counts: 9 buckets for 5 edges"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"control": [1, 2], "treatment": [1, 2], "edges": EDGES} | kwargs
    with pytest.raises(ValueError, match=message):
        quantile_ratio_test(**args)  # type: ignore[arg-type]


GRID = tuple(0.1 * 2 ** (i / 16) for i in range(240))  # the gateways' grid, to ~3 s


def _monitor(ratio: float, margin: float, seed: int, looks: int = 30, per_look: int = 300) -> bool:
    """One experiment, looked at every ``per_look`` scorings per arm: did it ever reject?"""
    rng = np.random.default_rng(seed)
    edges = np.asarray(GRID)
    control = np.zeros(len(GRID) + 1, dtype=np.int64)
    treatment = np.zeros(len(GRID) + 1, dtype=np.int64)
    for _ in range(looks):
        c = rng.lognormal(math.log(5.0), 0.5, per_look)
        t = rng.lognormal(math.log(5.0 * ratio), 0.5, per_look)
        control += np.bincount(np.searchsorted(edges, c), minlength=control.size)
        treatment += np.bincount(np.searchsorted(edges, t), minlength=treatment.size)
        if excess_p_value(control, treatment, GRID, margin=margin) <= 0.05:
            return True
    return False


def test_equal_latencies_rarely_breach_however_often_looked_at() -> None:
    runs = 60
    alarms = sum(_monitor(1.0, 1.0, seed) for seed in range(runs))
    # α = 0.05; the conservative buckets make it smaller still. 4 of 60 is α + 2.5 SE.
    assert alarms <= 4, alarms


def test_a_slower_treatment_is_caught_and_a_margin_spares_it() -> None:
    assert sum(_monitor(1.5, 1.0, seed) for seed in range(10)) >= 9
    assert sum(_monitor(1.5, 2.0, seed) for seed in range(10)) == 0
