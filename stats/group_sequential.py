"""Group-sequential tests with a planned horizon: Lan–DeMets alpha spending.

When the experiment plans its sample size (a horizon of N units per arm) and
looks at information fractions t_k = n_k / N, spending α(t) of the type-I
error by time t keeps the total at α over any number of looks (Lan & DeMets,
"Discrete sequential boundaries for clinical trials", Biometrika 70(3), 1983):

- O'Brien–Fleming type, their eq. (6), spent α/2 on each side as in R's
  ldbounds and gsDesign:                α(t) = 2 (2 − 2 Φ(z_{1−α/4} / √t))
- Pocock type, their eq. (7):            α(t) = α log(1 + (e − 1) t)

The two-sided boundaries c_k solve P(|Z_k| ≥ c_k, |Z_j| < c_j for j < k) =
α(t_k) − α(t_{k−1}) under H0, computed by the recursive numerical integration
of Armitage, McPherson & Rowe (1969) as laid out in Jennison & Turnbull,
"Group Sequential Methods with Applications to Clinical Trials" (2000), ch. 19:
the sub-density of the score S_k = Z_k √t_k on the continuation region is
carried from look to look through the N(0, t_k − t_{k−1}) increment.

Intervals are the repeated confidence intervals θ̂ ± c_k · se (Jennison &
Turnbull, JRSS B 51, 1989), valid simultaneously over the planned looks.
Because almost no α is spent early, power at the horizon is close to the
fixed-horizon test's — the price is that looks must follow the plan.

Look k needs only the looks before it (the spending function depends on t
alone), so the recursion is carried forward a look at a time: a
:class:`Checkpoint` after look k (its boundary and the sub-density on its grid)
is all that look k + 1 needs. The worker carries it in the evaluation record, so
a restarted worker takes its next look in one step, not k.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import optimize, special
from scipy.stats import norm

from stats.effects import Effect
from stats.inference import Inference, uninformative
from stats.mixture import Array

Spending = Literal["obrien-fleming", "pocock"]
METHOD = "group-sequential"
GRID_POINTS = 401
MAX_BOUNDARY = 8.5  # P(|Z| > 8.5) ~ 2e-17: spending below that is nothing
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def spent(t: float, alpha: float, spending: Spending) -> float:
    """α(t), the cumulative type-I error spent by information fraction t."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    if spending == "obrien-fleming":
        return float(4 * norm.sf(norm.isf(alpha / 4) / math.sqrt(t)))
    return alpha * math.log(1 + (math.e - 1) * t)


def _simpson_weights(m: int, width: float) -> Array:
    h = width / (m - 1)
    w = np.ones(m)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return np.asarray(w * h / 3)


def _normal_pdf(x: Array) -> Array:
    return np.asarray(np.exp(-0.5 * x * x) * _INV_SQRT_2PI)


@dataclass(frozen=True)
class Checkpoint:
    """The recursion of one plan (equally spaced looks) after look ``look``.

    Everything the next look needs: the boundary c_look, the type-I error spent so
    far (as the recursion summed it) and the sub-density of the score S_look on the
    ``GRID_POINTS`` equally spaced points of the continuation region [−c√t, c√t].
    """

    looks: int
    alpha: float
    spending: Spending
    look: int
    boundary: float
    spent: float
    density: tuple[float, ...]

    def of(self, looks: int, alpha: float, spending: Spending) -> bool:
        """Whether this is the recursion of that plan (and one this version can resume)."""
        return (
            (self.looks, self.alpha, self.spending) == (looks, float(alpha), spending)
            and 1 <= self.look <= looks
            and len(self.density) == GRID_POINTS
        )


def boundaries(
    fractions: Sequence[float], alpha: float, spending: Spending = "obrien-fleming"
) -> tuple[float, ...]:
    """Two-sided z boundaries c_1..c_K for looks at increasing information fractions in (0, 1]."""
    return _boundaries(tuple(float(t) for t in fractions), float(alpha), spending)


@lru_cache(maxsize=32)
def _boundaries(
    fractions: tuple[float, ...], alpha: float, spending: Spending
) -> tuple[float, ...]:
    recursion = _Recursion(fractions, alpha, spending)
    return tuple(recursion.step() for _ in fractions)


class _Recursion:
    """The recursion over looks, one look per :meth:`step`, from the start or a checkpoint."""

    def __init__(self, fractions: tuple[float, ...], alpha: float, spending: Spending) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if not fractions or any(b <= a for a, b in itertools.pairwise(fractions)):
            raise ValueError(f"fractions must be strictly increasing, got {fractions}")
        if fractions[0] <= 0 or fractions[-1] > 1:
            raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
        self.fractions, self.alpha, self.spending = fractions, alpha, spending
        self.taken = 0
        self.boundary = math.inf
        self._grid: Array | None = None
        self._density: Array | None = None
        self._weights: Array | None = None
        self._previous_t = 0.0
        self._previous_spent = 0.0

    @classmethod
    def resume(cls, checkpoint: Checkpoint) -> _Recursion:
        """The recursion exactly as it stood when ``checkpoint`` was taken."""
        recursion = cls(look_fractions(checkpoint.looks), checkpoint.alpha, checkpoint.spending)
        t = recursion.fractions[checkpoint.look - 1]
        b = checkpoint.boundary * math.sqrt(t)
        recursion.taken, recursion.boundary = checkpoint.look, checkpoint.boundary
        recursion._grid = np.linspace(-b, b, GRID_POINTS)
        recursion._density = np.array(checkpoint.density, dtype=np.float64)
        recursion._weights = _simpson_weights(GRID_POINTS, 2 * b)
        recursion._previous_t, recursion._previous_spent = t, checkpoint.spent
        return recursion

    def checkpoint(self, looks: int) -> Checkpoint:
        """Where the recursion stands (``looks``: the plan's, equally spaced)."""
        assert self._density is not None and self.taken >= 1
        return Checkpoint(
            looks,
            self.alpha,
            self.spending,
            self.taken,
            self.boundary,
            self._previous_spent,
            tuple(float(x) for x in self._density),
        )

    def step(self) -> float:
        """The boundary of the next look."""
        if self.taken >= len(self.fractions):
            raise ValueError(f"all {len(self.fractions)} looks are taken")
        self.boundary = self._next(self.fractions[self.taken])
        self.taken += 1
        return self.boundary

    def _next(self, t: float) -> float:
        alpha, spending = self.alpha, self.spending
        spend = spent(t, alpha, spending) - self._previous_spent
        self._previous_spent += spend
        grid, density, weights = self._grid, self._density, self._weights
        if grid is None or density is None or weights is None:
            c = min(float(norm.isf(spend / 2)), MAX_BOUNDARY) if spend > 0 else MAX_BOUNDARY
            sd = math.sqrt(t)
            b = c * sd
            self._grid = np.linspace(-b, b, GRID_POINTS)
            self._density = _normal_pdf(self._grid / sd) / sd
        else:
            sd = math.sqrt(t - self._previous_t)
            mass = weights * density

            def crossing(
                c: float, mass: Array = mass, u: Array = grid, sd: float = sd, t: float = t
            ) -> float:
                b = c * math.sqrt(t)
                tail = special.ndtr((u - b) / sd) + special.ndtr((-b - u) / sd)
                return float(mass @ tail)

            if spend <= crossing(MAX_BOUNDARY):
                c = MAX_BOUNDARY
            else:
                c = float(
                    optimize.brentq(
                        lambda c, spend=spend: crossing(c) - spend, 1e-6, MAX_BOUNDARY, xtol=1e-10
                    )
                )
            b = c * math.sqrt(t)
            new_grid = np.linspace(-b, b, GRID_POINTS)
            kernel = _normal_pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
            self._density = np.asarray(kernel @ mass)
            self._grid = new_grid
        self._weights = _simpson_weights(GRID_POINTS, 2 * b)
        self._previous_t = t
        return c


def advance(
    looks: int,
    alpha: float,
    spending: Spending = "obrien-fleming",
    look: int = 1,
    start: Checkpoint | None = None,
) -> Checkpoint:
    """The recursion of ``looks`` equally spaced looks taken to ``look``.

    From ``start`` when it is a checkpoint of the same plan at or before ``look``
    (one step per look in between), else from the first look. Pure: nothing is kept
    between calls, so concurrent evaluations share no state and wait on no lock.
    """
    if not 1 <= look <= looks:
        raise ValueError(f"look must be in [1, {looks}], got {look}")
    if start is not None and start.of(looks, alpha, spending) and start.look <= look:
        if start.look == look:
            return start
        recursion = _Recursion.resume(start)
    else:
        recursion = _Recursion(look_fractions(looks), float(alpha), spending)
    while recursion.taken < look:
        recursion.step()
    return recursion.checkpoint(looks)


def boundary_at(
    look: int, looks: int, alpha: float, spending: Spending = "obrien-fleming"
) -> float:
    """c_look for ``looks`` equally spaced looks, computing boundaries only up to ``look``.

    Equal to ``boundaries(look_fractions(looks), alpha, spending)[look - 1]``.
    """
    return advance(looks, alpha, spending, look).boundary


def look_fractions(looks: int) -> tuple[float, ...]:
    """Equally spaced information fractions k / looks, k = 1..looks."""
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    return tuple(k / looks for k in range(1, looks + 1))


def group_sequential(effect: Effect, boundary: float, null: float = 0.0) -> Inference:
    """The test at one planned look whose boundary is ``boundary`` (from :func:`boundaries`).

    The p-value is the nominal one at this look; the decision is the boundary
    crossing, which the repeated confidence interval reports exactly.
    """
    if not effect.defined:
        return uninformative(METHOD, effect.estimate, null)
    se = effect.standard_error
    z = (effect.estimate - null) / se
    return Inference(
        METHOD,
        effect.estimate,
        effect.estimate - boundary * se,
        effect.estimate + boundary * se,
        float(2 * norm.sf(abs(z))),
        null,
    )
