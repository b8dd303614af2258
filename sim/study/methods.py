"""The tests under study, applied at every look of every replication with the engine's own code.

A method maps the relative-lift estimate and its variance at every look
((R, L) arrays) to a rejection at each look and the interval there. The
experiment stops at the first rejection; one that never rejects runs to the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from stats import confidence_sequence as cs
from stats.group_sequential import boundaries, look_fractions
from stats.mixture import Array, halfwidth_two_sided, log_lr_two_sided
from stats.sequential import tau2_for_horizon

Mask = npt.NDArray[np.bool_]
# (estimate, variance, total units per look) -> (reject, low, high), all (R, L)
Rule = Callable[[Array, Array, Array], tuple[Mask, Array, Array]]


@dataclass(frozen=True)
class Method:
    name: str
    rule: Rule
    note: str = ""


def fixed_peeked(alpha: float) -> Rule:
    z = float(norm.isf(alpha / 2))

    def rule(est: Array, var: Array, units: Array) -> tuple[Mask, Array, Array]:
        half = z * np.sqrt(var)
        return np.abs(est) >= half, est - half, est + half

    return rule


def fixed_end(alpha: float) -> Rule:
    peeked = fixed_peeked(alpha)

    def rule(est: Array, var: Array, units: Array) -> tuple[Mask, Array, Array]:
        reject, low, high = peeked(est, var, units)
        reject = reject.copy()
        reject[:, :-1] = False
        return reject, low, high

    return rule


def confidence_sequence(alpha: float, tuning: float) -> Rule:
    def rule(est: Array, var: Array, units: Array) -> tuple[Mask, Array, Array]:
        half = halfwidth_two_sided(var, cs.tau2(var, units[None, :], tuning, alpha), alpha)
        return np.abs(est) >= half, est - half, est + half

    return rule


def msprt_planned(alpha: float, tuning: float, unit_variance: float) -> Rule:
    """mSPRT with τ² fixed before the experiment from a planning (pilot) unit variance."""
    tau2 = tau2_for_horizon(unit_variance, tuning, alpha)

    def rule(est: Array, var: Array, units: Array) -> tuple[Mask, Array, Array]:
        reject = np.asarray(log_lr_two_sided(est, var, tau2) >= np.log(1 / alpha))
        half = halfwidth_two_sided(var, tau2, alpha)
        return reject, np.asarray(est - half), np.asarray(est + half)

    return rule


def group_sequential(alpha: float, looks: int) -> Rule:
    c = np.asarray(boundaries(look_fractions(looks), alpha))

    def rule(est: Array, var: Array, units: Array) -> tuple[Mask, Array, Array]:
        half = c[None, :] * np.sqrt(var)
        return np.abs(est) >= half, est - half, est + half

    return rule


@dataclass(frozen=True)
class Outcome:
    rejected: Mask  # (R,)
    positive: Mask  # (R,): the estimate at the decision was > 0
    users: Array  # (R,) users per arm at the decision (the horizon when never rejected)
    covered: Mask  # (R,) the interval at the decision contains the true lift


def run(rule: Rule, est: Array, var: Array, n: Array, truth: float) -> Outcome:
    """Stop each replication at its first rejection and read the outcome there."""
    ok = np.isfinite(var) & (var > 0)
    est = np.where(ok, est, 0.0)
    var = np.where(ok, var, np.inf)
    reject, low, high = rule(est, var, 2 * n)
    reject = reject & ok
    rejected = np.asarray(reject.any(axis=1))
    stop = np.where(rejected, reject.argmax(axis=1), est.shape[1] - 1)
    rows = np.arange(est.shape[0])
    return Outcome(
        rejected,
        est[rows, stop] > 0,
        n[stop],
        (low[rows, stop] <= truth) & (truth <= high[rows, stop]),
    )
