"""Pure ranking metrics for the offline gates: quality against graded relevance, and the
agreement of two rankers over the same candidates.

- NDCG@k: Järvelin & Kekäläinen (2002), gains ``2**grade - 1``, discount ``1/log2(rank+1)``.
- overlap@k: the share of one top-k that is also in the other's.
- Kendall's τ-b between the two score vectors (ties counted as in Kendall 1945, the
  definition scipy's ``kendalltau`` uses, against which the tests check it).
- Rank-biased overlap: Webber, Moffat & Zobel (2010), "A similarity measure for
  indefinite rankings", extrapolated RBO, eq. (32) with persistence ``p``, over the
  top ``depth`` of each list.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def ranking(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Candidate positions, best first (ties keep the input order)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable").astype(np.int64)


def ndcg_at_k(scores: npt.ArrayLike, grades: npt.ArrayLike, k: int = 10) -> float:
    """NDCG@k; 1.0 when no candidate is relevant (every order is ideal)."""
    g = np.asarray(grades, dtype=np.float64)
    gains = 2.0**g - 1.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    order = ranking(scores)[:k]
    ideal = np.sort(gains)[::-1][:k]
    idcg = float((ideal * discounts[: ideal.size]).sum())
    if idcg == 0.0:
        return 1.0
    return float((gains[order] * discounts[: order.size]).sum()) / idcg


def overlap_at_k(a: npt.ArrayLike, b: npt.ArrayLike, k: int = 10) -> float:
    return ranked_overlap(ranking(a), ranking(b), k)


def ranked_overlap(ra: npt.NDArray[np.int64], rb: npt.NDArray[np.int64], k: int = 10) -> float:
    """overlap@k of two rankings (as :func:`ranking` gives them)."""
    top_a, top_b = set(ra[:k].tolist()), set(rb[:k].tolist())
    return len(top_a & top_b) / max(1, min(k, len(top_a)))


@functools.lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every (i, j) with i < j, for n items (kept: the gates and shadows ask for few sizes)."""
    i, j = np.triu_indices(n, k=1)
    return i, j


def kendall_tau(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Kendall's τ-b of two score vectors over the same candidates; 1.0 if either is constant
    and both are (nothing to disagree on), 0.0 if only one is."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    i, j = _pairs(x.size)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    concordance = float(sx @ sy)
    nx, ny = float(np.abs(sx).sum()), float(np.abs(sy).sum())
    if nx == 0.0 or ny == 0.0:
        return 1.0 if nx == ny else 0.0
    return concordance / float(np.sqrt(nx * ny))


def rank_biased_overlap(
    a: npt.ArrayLike, b: npt.ArrayLike, p: float = 0.9, depth: int = 10
) -> float:
    """Extrapolated RBO of the two rankings' top ``depth`` (Webber et al. 2010, eq. 32):

    RBO_ext = (X_k / k) p^k + (1 - p) / p * sum_{d=1..k} (X_d / d) p^d

    where X_d is the size of the overlap of the two top-d lists.
    """
    return ranked_rbo(ranking(a), ranking(b), p, depth)


def ranked_rbo(
    ra: npt.NDArray[np.int64], rb: npt.NDArray[np.int64], p: float = 0.9, depth: int = 10
) -> float:
    """:func:`rank_biased_overlap` of two rankings (as :func:`ranking` gives them)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    la, lb = ra[:depth].tolist(), rb[:depth].tolist()
    k = min(len(la), len(lb))
    if k == 0:
        return 1.0
    seen_a: set[int] = set()
    seen_b: set[int] = set()
    overlap = 0
    total = 0.0
    for d in range(1, k + 1):
        x, y = la[d - 1], lb[d - 1]
        if x == y:
            overlap += 1
        else:
            overlap += (x in seen_b) + (y in seen_a)
        seen_a.add(x)
        seen_b.add(y)
        total += overlap / d * p**d
    return overlap / k * p**k + (1 - p) / p * total
