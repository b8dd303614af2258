"""Offline ranking quality against the simulator's ground truth."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def ndcg_at_k(scores: npt.NDArray[np.float64], grades: npt.NDArray[np.int64], k: int = 10) -> float:
    """NDCG@k with gains ``2**grade - 1`` (Järvelin & Kekäläinen 2002); 1.0 when nothing is relevant."""
    gains = (2.0**grades) - 1.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    order = np.argsort(-scores, kind="stable")[:k]
    ideal = np.sort(gains)[::-1][:k]
    idcg = float((ideal * discounts[: ideal.size]).sum())
    if idcg == 0.0:
        return 1.0
    return float((gains[order] * discounts[: order.size]).sum()) / idcg
