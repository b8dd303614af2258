"""Position-biased click model and purchase decisions.

A position-based model (Craswell et al. 2008): a shopper examines position k
(0-based) with probability ``(1 + k) ** -EXAMINATION_DECAY``, clicks an examined
item with probability rising in its utility, and buys a clicked item with a
probability that rises in utility and falls in price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from sim.world import Catalog, Intent, utility

EXAMINATION_DECAY: Final = 1.0
PURCHASE_GIVEN_CART: Final = 0.15


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Interaction:
    position: int
    item: int
    clicked: bool
    added_to_cart: bool
    purchased: bool
    value: float


def simulate_page(
    catalog: Catalog,
    intent: Intent,
    shown: npt.NDArray[np.int64],
    rng: np.random.Generator,
    price_sensitivity: float = 0.5,
) -> list[Interaction]:
    """What a shopper does with the ranked page ``shown`` (position 0 first)."""
    u = utility(catalog, intent, shown)
    positions = np.arange(shown.size)
    examined = rng.random(shown.size) < (1.0 + positions) ** -EXAMINATION_DECAY
    clicked = examined & (rng.random(shown.size) < _sigmoid(1.5 * (u - 2.5)))
    log_price = np.log(catalog.price[shown])
    p_cart = _sigmoid(1.2 * (u - 3.0) - price_sensitivity * (log_price - 3.5))
    carted = clicked & (rng.random(shown.size) < p_cart)
    purchased = carted & (rng.random(shown.size) < PURCHASE_GIVEN_CART)
    return [
        Interaction(
            position=int(k),
            item=int(shown[k]),
            clicked=bool(clicked[k]),
            added_to_cart=bool(carted[k]),
            purchased=bool(purchased[k]),
            value=float(round(catalog.price[shown[k]], 2)),
        )
        for k in range(shown.size)
        if clicked[k]
    ]
