"""An always-valid test that one arm's quantile exceeds a multiple of another's, from
histogram counts.

Howard & Ramdas, "Sequential estimation of quantiles with applications to A/B testing and
best-arm identification", Bernoulli 28(3), 2022: the two-sample sequential test of quantiles
of their A/B-testing application (in the authors' confseq library, ``quantile_ab_p_value``),
built on their fixed-quantile confidence sequence (Theorem 1) with the beta-binomial mixture
boundary. Here it is one-sided and has a margin ``m``:

    H0: q_T(p) ≤ m · q_C(p)   against   H1: q_T(p) > m · q_C(p),

q_A(p) the p-quantile of arm A's observations (scoring times). With K_A(x) = #{X_A ≤ x} of
n_A observations, the likelihood ratio of success probability p' against p mixed over a
beta prior (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021, the beta-binomial
mixture, written here in its Bernoulli form),

    M_n^{S}(k; p) = ∫_S p'^k (1 − p')^(n−k) dB(p') / (p^k (1 − p)^(n−k) · B(S))          (M)

over B = Beta(a, b), a = r / (1 − p), b = r / p (mean p), is a nonnegative martingale with
k = K(x) when P(X ≤ x) = p, for S = [0, 1] (two-sided, M^{±}) as for S = [p, 1] (M^{+}),
and M^{+} is a supermartingale when P(X ≤ x) < p. Under H0 (continuous observations), at
x* = q_T(p): P(X_T ≤ x*) = p and P(X_C ≤ x*/m) ≤ p, so the product

    M_T^{±}(K_T(x*)) · M_C^{+}(K_C(x*/m))                                                (P)

is a nonnegative supermartingale over the two arms' interleaved observations, and by Ville's
inequality it passes 1/α with probability at most α, at any look, ever. x* is unknown: the
test rejects when the infimum of (P) over every x passes 1/α, which (P) at x* then does too.
The always-valid p-value is min(1, 1 / inf_x (P)). (The treatment's factor is two-sided,
as the arms' factors of the paper's two-sided test are: beyond all its observations its
count is evidence too. A one-sided M^{−} there would make more treatment data weaken the
test, the infimum sitting beyond the treatment's largest value.)

Buckets. Only counts per bucket (e_{i−1}, e_i] are kept, so K_A(x) is known only at the
edges. Each factor is bounded from below over the counts the buckets allow: for the control
the count of the buckets wholly ≤ x/m (M^{+} rises with k); for the treatment the least of
the convex log M^{±} over every count between that of the buckets wholly ≤ x and that of the
buckets that may hold values ≤ x. (P) can only shrink, so the test stays valid; what the
buckets cost is resolution: with edges a factor w apart, the treatment's and the control's
quantiles must be about an edge apart beyond the margin, a ratio above m · w, before
anything can be detected.

The confidence sequence for the ratio q_T / q_C is the set of margins not rejected, each end
one-sided at level α: ``ci_low`` the largest m whose H0 is rejected (0 when none is),
``ci_high`` the smallest m for which the mirrored test (q_T ≥ m q_C, the arms swapped and the
margin 1/m) rejects (∞ when none does). ``breached`` ⇔ ``ci_low`` > margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

Array = npt.NDArray[np.float64]
Side = Literal["above", "below", "both"]

DEFAULT_TUNING: Final = 10_000  # observations per arm at which the boundary is tightest
_RATIO_RANGE: Final = 1e6  # ci ends searched within [1/R, R]; beyond: 0 and ∞
_RATIO_TOLERANCE: Final = 1e-4  # relative precision of the ci ends


def concentration(p: float, tuning: float, alpha: float) -> float:
    """The prior's concentration r tightest at ``tuning`` observations: the one-sided normal
    mixture's optimal ρ for intrinsic time v* = tuning · p(1 − p) (Howard et al. 2021, the
    normal mixture's tuning; ρ = v* / (2 log(1/(2α)) + log(1 + 2 log(1/(2α))))), less p(1 − p),
    as the authors' confseq library does for the beta-binomial mixture."""
    if not 0 < p < 1:
        raise ValueError(f"quantile must be in (0, 1), got {p}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not tuning > 0:
        raise ValueError(f"tuning must be > 0, got {tuning}")
    variance = p * (1 - p)
    two_log = 2 * math.log(1 / (2 * alpha))
    rho = tuning * variance / (two_log + math.log(1 + two_log))
    return max(rho - variance, 1e-3 * variance)


def log_mixture(k: npt.ArrayLike, n: int, p: float, r: float, side: Side) -> Array:
    """log M_n^{S}(k; p) of (M): the evidence, from ``k`` of ``n`` Bernoulli observations being
    successes, that their probability is above p (``side="above"``, S = [p, 1]), below it
    (S = [0, p]) or either (S = [0, 1])."""
    ks = np.asarray(k, dtype=np.float64)
    if n == 0:
        return np.zeros_like(ks)
    a, b = r / (1 - p), r / p
    # ∫ over [p, 1] of the Beta(A, B) density is I_{1−p}(B, A); over [0, p], I_p(A, B).
    if side == "both":
        posterior, prior = np.zeros_like(ks), np.zeros(1)
    elif side == "above":
        posterior = log_betainc(b + n - ks, a + ks, 1 - p)
        prior = log_betainc(np.array([b]), np.array([a]), 1 - p)
    else:
        posterior = log_betainc(a + ks, b + n - ks, p)
        prior = log_betainc(np.array([a]), np.array([b]), p)
    beta_ratio = special.betaln(a + ks, b + n - ks) - special.betaln(a, b)
    return np.asarray(
        beta_ratio + posterior - prior[0] - ks * math.log(p) - (n - ks) * math.log1p(-p)
    )


_TINY: Final = 1e-280  # below it, I_x is taken in log space (the products above overflow)


def log_betainc(a: Array, b: Array, x: float) -> Array:
    """log I_x(a, b), the regularized incomplete beta function, without underflow: far in the
    lower tail (where scipy's value underflows while the mixture's other factors overflow) by
    the continued fraction I_x(a, b) = x^a (1 − x)^b / (a B(a, b)) · CF(a, b, x) (Abramowitz &
    Stegun 26.5.8), evaluated in log space by the modified Lentz method."""
    direct: Array = np.asarray(special.betainc(a, b, x), dtype=np.float64)
    out = np.empty_like(direct)
    usable = direct > _TINY
    with np.errstate(divide="ignore"):
        out[usable] = np.log(direct[usable])
    tail = ~usable
    if np.any(tail):
        at, bt = a[tail], b[tail]
        front = at * math.log(x) + bt * math.log1p(-x) - np.log(at) - special.betaln(at, bt)
        out[tail] = front + np.log(_continued_fraction(at, bt, x))
    return out


def _continued_fraction(a: Array, b: Array, x: float, steps: int = 500) -> Array:
    """CF(a, b, x) of A&S 26.5.8 by the modified Lentz method (converges fast where
    x < (a + 1) / (a + b + 2), which is where I_x(a, b) is tiny)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c = np.ones_like(a)
    d = 1 - qab * x / qap
    d = 1 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, steps + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1 + numerator * d
            d = 1 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1 + numerator / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            step = d * c
            h = h * step
        if np.all(np.abs(step - 1) < 1e-15):
            break
    return h


def _counts(counts: Sequence[int] | npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
    out = np.zeros(size, dtype=np.int64)
    given = np.asarray(counts, dtype=np.int64)
    if given.size > size:
        raise ValueError(f"counts: {given.size} buckets for {size - 1} edges (at most {size})")
    if np.any(given < 0):
        raise ValueError("counts: a bucket count is negative")
    out[: given.size] = given
    return out


@dataclass(frozen=True)
class QuantileTest:
    """What :func:`quantile_ratio_test` found: the quantiles read from the buckets (each the
    upper edge of its bucket; None without observations), their ratio, its always-valid
    interval, and the test of the margin."""

    quantile: float
    margin: float
    alpha: float
    control: float | None
    treatment: float | None
    ratio: float | None
    ci_low: float
    ci_high: float
    p_value: float
    breached: bool


class _Histogram:
    """One arm's bucketed observations: bucket i holds (edges[i−1], edges[i]], the first
    (0, edges[0]], the last (edges[−1], ∞); with the log mixtures (M) of each cumulative count,
    computed once for every margin tried."""

    def __init__(self, counts: npt.NDArray[np.int64], edges: Array, p: float, r: float) -> None:
        self.n = int(counts.sum())
        self.cumulative = np.concatenate(([0], np.cumsum(counts)))
        self.lower = np.concatenate(([0.0], edges))
        self.upper = np.concatenate((edges, [np.inf]))
        self.above = log_mixture(self.cumulative, self.n, p, r, "above")
        both = log_mixture(self.cumulative, self.n, p, r, "both")
        # log M^{±} is convex in k: its least value over the integers, and where.
        around = np.clip(
            round(p * (r / (p * (1 - p)) + self.n) - r / (1 - p)) + np.arange(-3, 4), 0, self.n
        )
        values = log_mixture(around, self.n, p, r, "both")
        self.k_min, self.both_min = float(around[np.argmin(values)]), float(np.min(values))
        self.both = both

    def least_both(self, low: npt.NDArray[np.intp], high: npt.NDArray[np.intp]) -> Array:
        """The least log M^{±} over the counts from cumulative[low] to cumulative[high]."""
        return np.where(
            self.cumulative[high] <= self.k_min,
            self.both[high],
            np.where(self.cumulative[low] >= self.k_min, self.both[low], self.both_min),
        )

    def quantile(self, p: float) -> float | None:
        if self.n == 0:
            return None
        index = int(np.searchsorted(self.cumulative, p * self.n, side="left")) - 1
        return float(self.upper[max(index, 0)])


def _log_evidence(slower: _Histogram, faster: _Histogram, margin: float) -> float:
    """log inf_x (P) for H0: q_slower(p) ≤ margin · q_faster(p), each factor at its least over
    the counts the buckets allow."""
    scaled = margin * faster.upper
    points = np.unique(np.concatenate(([0.0], slower.lower, scaled[:-1])))
    # Every count is constant on each piece between points: take each point and its right
    # limit. Of the slower arm: buckets wholly ≤ x (upper edge ≤ x), buckets that may hold
    # values ≤ x (lower edge < x; at the right limit, ≤ x); of the faster one, buckets
    # wholly ≤ x / margin.
    wholly = np.tile(np.searchsorted(slower.upper, points, side="right"), 2)
    maybe = np.concatenate(
        (
            np.searchsorted(slower.lower, points, side="left"),
            np.searchsorted(slower.lower, points, side="right"),
        )
    )
    fast = np.tile(np.searchsorted(scaled, points, side="right"), 2)
    return float(np.min(slower.least_both(wholly, maybe) + faster.above[fast]))


def _boundary(rejects: Callable[[float], bool], increasing: bool) -> float:
    """The margin where ``rejects(m)`` (monotone in m) changes, searched on log m."""
    lo, hi = -math.log(_RATIO_RANGE), math.log(_RATIO_RANGE)
    if increasing:  # rejected for every m above the boundary
        if not rejects(math.exp(hi)):
            return math.inf
        if rejects(math.exp(lo)):
            return 0.0
    else:  # rejected for every m below the boundary
        if not rejects(math.exp(lo)):
            return 0.0
        if rejects(math.exp(hi)):
            return math.inf
    while hi - lo > _RATIO_TOLERANCE:
        mid = (lo + hi) / 2
        if rejects(math.exp(mid)) == increasing:
            hi = mid
        else:
            lo = mid
    return math.exp(lo if not increasing else hi)


def _histograms(
    control: Sequence[int] | npt.NDArray[np.int64],
    treatment: Sequence[int] | npt.NDArray[np.int64],
    edges: Sequence[float],
    quantile: float,
    margin: float,
    alpha: float,
    tuning: float,
) -> tuple[_Histogram, _Histogram]:
    if not margin > 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number > 0, got {margin}")
    bounds = np.asarray(edges, dtype=np.float64)
    if bounds.size == 0 or bounds[0] <= 0 or np.any(np.diff(bounds) <= 0):
        raise ValueError("edges must be positive and strictly rising")
    r = concentration(quantile, tuning, alpha)
    return (
        _Histogram(_counts(control, bounds.size + 1), bounds, quantile, r),
        _Histogram(_counts(treatment, bounds.size + 1), bounds, quantile, r),
    )


def _p_value(log_evidence: float) -> float:
    return 1.0 if log_evidence <= 0 else math.exp(-log_evidence)


def excess_p_value(
    control: Sequence[int] | npt.NDArray[np.int64],
    treatment: Sequence[int] | npt.NDArray[np.int64],
    edges: Sequence[float],
    *,
    quantile: float = 0.99,
    margin: float = 1.0,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> float:
    """The always-valid p-value of H0: the treatment's ``quantile`` is at most ``margin``
    times the control's (the test of :func:`quantile_ratio_test` without its interval; ``alpha``
    only tunes the mixture)."""
    c, t = _histograms(control, treatment, edges, quantile, margin, alpha, tuning)
    return _p_value(_log_evidence(t, c, margin))


def quantile_ratio_test(
    control: Sequence[int] | npt.NDArray[np.int64],
    treatment: Sequence[int] | npt.NDArray[np.int64],
    edges: Sequence[float],
    *,
    quantile: float = 0.99,
    margin: float = 1.0,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> QuantileTest:
    """The always-valid one-sided test that the treatment's ``quantile`` is above ``margin``
    times the control's, from each arm's counts per bucket of ``edges`` (upper edges, rising;
    len(edges) + 1 buckets, the last one open), and the ratio's confidence sequence.

    Valid at every look (any number of looks, at any times) when each arm's observations are
    independent draws from one continuous distribution."""
    c, t = _histograms(control, treatment, edges, quantile, margin, alpha, tuning)
    threshold = math.log(1 / alpha)

    def slower_treatment(m: float) -> bool:
        return _log_evidence(t, c, m) >= threshold

    def slower_control(m: float) -> bool:  # H0': q_T ≥ m q_C, i.e. q_C ≤ (1/m) q_T
        return _log_evidence(c, t, 1 / m) >= threshold

    log_e = _log_evidence(t, c, margin)
    q_c, q_t = c.quantile(quantile), t.quantile(quantile)
    return QuantileTest(
        quantile=quantile,
        margin=margin,
        alpha=alpha,
        control=q_c,
        treatment=q_t,
        ratio=None if q_c is None or q_t is None else q_t / q_c,
        ci_low=_boundary(slower_treatment, increasing=False),
        ci_high=_boundary(slower_control, increasing=True),
        p_value=_p_value(log_e),
        breached=log_e >= threshold,
    )
