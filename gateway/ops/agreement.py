"""Pure: how a shadow version's ranking agrees with production's on one search, and the report
of many searches summed over gateway processes.

Per search: overlap@10, Kendall's τ-b and rank-biased overlap (gateway.models.ranking_metrics),
τ over production's top ``TAU_DEPTH`` candidates only, so a 1 000-candidate search costs no
more than a 20-candidate one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from gateway.models.ranking_metrics import kendall_tau, ranked_overlap, ranked_rbo, ranking
from gateway.ops.histogram import field_bucket, percentile

TAU_DEPTH: Final = 20


@dataclass(frozen=True)
class Agreement:
    overlap_at_10: float
    kendall_tau: float
    rbo: float


def agreement(production: npt.ArrayLike, shadow: npt.ArrayLike) -> Agreement:
    prod, shad = np.asarray(production, dtype=np.float64), np.asarray(shadow, dtype=np.float64)
    ra, rb = ranking(prod), ranking(shad)  # once each: every figure reads them
    top = ra[:TAU_DEPTH]
    return Agreement(
        ranked_overlap(ra, rb, 10),
        kendall_tau(prod[top], shad[top]),
        ranked_rbo(ra, rb),
    )


def agreements(production: npt.ArrayLike, shadow: npt.ArrayLike) -> list[Agreement]:
    """:func:`agreement` for many searches of the same candidate count at once (rows): the same
    figures from a few array operations instead of a few dozen per search."""
    prod = np.asarray(production, dtype=np.float64)
    shad = np.asarray(shadow, dtype=np.float64)
    m, n = prod.shape
    if n < 2:
        return [agreement(a, b) for a, b in zip(prod, shad, strict=True)]
    ra = np.argsort(-prod, axis=1, kind="stable")
    rb = np.argsort(-shad, axis=1, kind="stable")
    # overlap@10 and RBO (Webber et al. 2010, eq. 32) from one match matrix of the two top-k
    # lists: X_d, the overlap of the top-d prefixes, is its d x d corner's sum.
    k = min(10, n)
    match = ra[:, :k, None] == rb[:, None, :k]
    corner = match.cumsum(axis=1).cumsum(axis=2)
    x = corner[:, np.arange(k), np.arange(k)].astype(np.float64)  # X_1 .. X_k
    overlap = x[:, -1] / k
    p = 0.9
    d = np.arange(1, k + 1, dtype=np.float64)
    rbo = x[:, -1] / k * p**k + (1 - p) / p * (x / d * p**d).sum(axis=1)
    # Kendall's τ-b over production's top TAU_DEPTH, all rows at once
    t = min(TAU_DEPTH, n)
    rows = np.arange(m)[:, None]
    top = ra[:, :t]
    px, sx = prod[rows, top], shad[rows, top]
    i, j = np.triu_indices(t, k=1)
    a, b = np.sign(px[:, i] - px[:, j]), np.sign(sx[:, i] - sx[:, j])
    concordance = (a * b).sum(axis=1)
    na, nb = np.abs(a).sum(axis=1), np.abs(b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(
            (na == 0) | (nb == 0), np.where(na == nb, 1.0, 0.0), concordance / np.sqrt(na * nb)
        )
    return [
        Agreement(float(o), float(tk), float(r)) for o, tk, r in zip(overlap, tau, rbo, strict=True)
    ]


def report(raw: Mapping[str, float]) -> dict[str, Any]:
    """The figures of one shadow version from its summed counters (see gateway.ops.shadow.ShadowFigures)."""
    scored = int(raw.get("scored", 0))
    errors = int(raw.get("errors", 0))
    n_scores = raw.get("score_n", 0.0)
    latency = {index: int(v) for k, v in raw.items() if (index := field_bucket(k)) is not None}

    def mean(name: str) -> float | None:
        return raw.get(name, 0.0) / scored if scored else None

    score_mean = raw.get("score_sum", 0.0) / n_scores if n_scores else None
    score_std = None
    if n_scores > 1 and score_mean is not None:
        variance = raw.get("score_sq_sum", 0.0) / n_scores - score_mean**2
        score_std = math.sqrt(max(variance, 0.0))
    return {
        "searches": scored + errors,
        "scored": scored,
        "errors": errors,
        "error_rate": errors / (scored + errors) if scored + errors else 0.0,
        "dropped": int(raw.get("dropped", 0)),
        "overlap_at_10": mean("overlap_sum"),
        "kendall_tau": mean("tau_sum"),
        "rbo": mean("rbo_sum"),
        "score_mean": score_mean,
        "score_std": score_std,
        "latency_ms": {"p50": percentile(latency, 0.5), "p99": percentile(latency, 0.99)},
    }


def shadow_phase_problem(
    version: str,
    figures: Mapping[str, Any],
    min_searches: int,
    min_overlap: float,
    max_overlap: float,
    max_error_rate: float,
) -> tuple[bool, str] | None:
    """Why ``version``'s shadow phase does not allow a start yet: (not yet, reason) when it
    needs more searches, (failed, reason) when its figures are out of bounds; None if passed."""
    searches = int(figures.get("searches", 0))
    if searches < min_searches:
        return True, (
            f"{version} has {searches} of the {min_searches} shadow searches required "
            f"(abgate shadow set {version} --share ...)"
        )
    if figures["error_rate"] > max_error_rate:
        return False, (
            f"{version} failed {figures['error_rate']:.1%} of its shadow searches "
            f"(limit {max_error_rate:.1%})"
        )
    overlap = figures.get("overlap_at_10")
    if overlap is None or not min_overlap <= overlap <= max_overlap:
        return False, (
            f"{version}'s overlap@10 with production is {overlap}, outside "
            f"[{min_overlap:g}, {max_overlap:g}]"
        )
    return None
