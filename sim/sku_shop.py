"""A shop keyed by string SKUs whose searches carry named features: what the "Bring your ranker"
test (``tests/e2e/test_bring_your_ranker.py``) trains LightGBM and XGBoost rankers on, uploads
as an evaluation dataset, and then shops in.

Each item has a category, a brand, a topic vector, a hidden quality, a price, an age, a stock
flag and a margin; each query a category, a topic and, sometimes, a brand. A (query, item)
pair's relevance follows from those hidden parts (:func:`utility`); the storefront and the
rankers see only named features, noisy views of them:

===============  ==============================================  ==========================
feature          what it is                                      tells of
===============  ==============================================  ==========================
``bm25``         text match                                      the category (noisy)
``semantic_sim`` embedding similarity of query and item          the topic
``ctr_7d``       last week's click-through rate                  the quality (noisy)
``rating``       stars                                           the quality (noisier)
``brand_match``  1 when the query names the item's brand         the brand
``price_rank``   the price's rank among the candidates, 0..1     a small penalty
``freshness``    exp(-age / 180 days)                            a small bonus
``in_stock``     0 or 1                                          out of stock: never wanted
``margin_30d``   the shop's margin                               nothing (not sent yet)
===============  ==============================================  ==========================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

FEATURES: Final = (
    "bm25",
    "semantic_sim",
    "ctr_7d",
    "rating",
    "brand_match",
    "price_rank",
    "freshness",
    "in_stock",
    "margin_30d",
)
# What the storefront sends with every search (margin_30d is not wired up yet).
SENT: Final = FEATURES[:-1]
CATEGORIES: Final = 12
BRANDS: Final = 30
TOPIC_DIM: Final = 6
CANDIDATES: Final = 30
# Relevance grades 0..3 are the utility cut at these points.
GRADE_CUTS: Final = (1.0, 2.2, 3.2)


@dataclass(frozen=True)
class Shop:
    skus: tuple[str, ...]
    category: npt.NDArray[np.int64]
    brand: npt.NDArray[np.int64]
    topic: npt.NDArray[np.float64]
    quality: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    age_days: npt.NDArray[np.float64]
    in_stock: npt.NDArray[np.float64]
    margin: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Search:
    """One query's candidates, their features (columns in :data:`FEATURES` order) and the
    hidden utility of each."""

    query: str
    items: npt.NDArray[np.int64]  # rows of the shop
    features: npt.NDArray[np.float32]
    utility: npt.NDArray[np.float64]

    def skus(self, shop: Shop) -> list[str]:
        return [shop.skus[i] for i in self.items]

    @property
    def grades(self) -> npt.NDArray[np.int64]:
        return np.digitize(self.utility, GRADE_CUTS).astype(np.int64)

    def columns(self, names: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.features[:, [FEATURES.index(n) for n in names]]


def make_shop(items: int = 3000, seed: int = 11) -> Shop:
    rng = np.random.default_rng(seed)
    topic = rng.normal(size=(items, TOPIC_DIM))
    return Shop(
        skus=tuple(f"SKU-{i:05d}" for i in range(items)),
        category=rng.integers(0, CATEGORIES, items),
        brand=rng.integers(0, BRANDS, items),
        topic=topic / np.linalg.norm(topic, axis=1, keepdims=True),
        quality=rng.normal(size=items),
        price=np.exp(rng.normal(3.5, 0.7, items)).round(2),
        age_days=rng.uniform(0, 720, items),
        in_stock=(rng.random(items) < 0.9).astype(np.float64),
        margin=rng.uniform(0.05, 0.4, items),
    )


def utility(
    shop: Shop, items: npt.NDArray[np.int64], category: int, topic: Any, brand: int
) -> npt.NDArray[np.float64]:
    """How much the shopper wants each item: the ground truth behind grades and behaviour."""
    return (
        1.0 * (shop.category[items] == category)
        + 2.2 * (shop.topic[items] @ topic)
        + 0.8 * shop.quality[items]
        + 0.8 * (shop.brand[items] == brand)
        + 0.3 * np.exp(-shop.age_days[items] / 180.0)
        - 4.0 * (1.0 - shop.in_stock[items])
        + 1.0
    )


def search(shop: Shop, rng: np.random.Generator) -> Search:
    """A query and its retrieved candidates (half from the query's category)."""
    category = int(rng.integers(0, CATEGORIES))
    topic = rng.normal(size=TOPIC_DIM)
    topic /= np.linalg.norm(topic)
    brand = int(rng.integers(0, BRANDS)) if rng.random() < 0.5 else -1
    same = np.flatnonzero(shop.category == category)
    half = CANDIDATES // 2
    items = np.unique(
        np.concatenate(
            [rng.choice(same, half, replace=False), rng.integers(0, len(shop.skus), half)]
        )
    )
    items = rng.permutation(items)[:CANDIDATES]
    n = len(items)
    matches = (shop.category[items] == category).astype(np.float64)
    noise = rng.normal(size=(4, n))
    quality = shop.quality[items]
    columns = {
        "bm25": np.clip(3.0 * matches + 1.2 * noise[0] + 2.0, 0.0, None),
        "semantic_sim": shop.topic[items] @ topic + 0.15 * noise[1],
        "ctr_7d": 1.0 / (1.0 + np.exp(3.0 - quality - 0.5 * noise[2])),
        "rating": np.clip(3.6 + 0.5 * quality + 0.6 * noise[3], 1.0, 5.0),
        "brand_match": (shop.brand[items] == brand).astype(np.float64),
        "price_rank": np.argsort(np.argsort(shop.price[items])) / max(n - 1, 1),
        "freshness": np.exp(-shop.age_days[items] / 180.0),
        "in_stock": shop.in_stock[items],
        "margin_30d": shop.margin[items],
    }
    features = np.stack([columns[f] for f in FEATURES], axis=1).astype(np.float32)
    query = f"c{category} t{int(np.argmax(topic))}" + (f" b{brand}" if brand >= 0 else "")
    return Search(query, items, features, utility(shop, items, category, topic, brand))


def training_set(
    shop: Shop, queries: int, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(features in FEATURES order, grades, query ids)`` of ``queries`` searches, one row per
    candidate, the query ids sorted (as XGBoost needs)."""
    rng = np.random.default_rng(seed)
    searches = [search(shop, rng) for _ in range(queries)]
    qid = np.repeat(np.arange(queries), [len(s.items) for s in searches])
    return (
        np.concatenate([s.features for s in searches]),
        np.concatenate([s.grades for s in searches]),
        qid,
    )


def dataset_jsonl(shop: Shop, queries: int, seed: int, names: Sequence[str] = SENT) -> bytes:
    """An evaluation dataset as ``POST /v1/datasets`` takes it: one query per line, each
    candidate's SKU, grade and named features (``names``)."""
    rng = np.random.default_rng(seed)
    lines = []
    for s in (search(shop, rng) for _ in range(queries)):
        values = s.columns(names).tolist()
        candidates = [
            {"id": sku, "grade": int(g), "features": dict(zip(names, v, strict=True))}
            for sku, g, v in zip(s.skus(shop), s.grades, values, strict=True)
        ]
        lines.append(orjson.dumps({"query": s.query, "candidates": candidates}))
    return b"\n".join(lines) + b"\n"


def search_body(shop: Shop, s: Search, user_id: str, columnar: bool, k: int = 10) -> dict[str, Any]:
    """``POST /v1/search`` with every feature the storefront sends, named: on each candidate,
    or (``columnar``) as columns beside plain SKUs."""
    values = s.columns(SENT)
    body: dict[str, Any] = {"user_id": user_id, "query": s.query, "k": k}
    if columnar:
        body["candidates"] = s.skus(shop)
        body["features"] = {n: values[:, j].tolist() for j, n in enumerate(SENT)}
    else:
        body["candidates"] = [
            {"id": sku, "features": dict(zip(SENT, row, strict=True))}
            for sku, row in zip(s.skus(shop), values.tolist(), strict=True)
        ]
    return body


@dataclass(frozen=True)
class Visit:
    """What a shopper did with one result: clicked it, and maybe put it in the cart."""

    position: int
    sku: str
    carted: bool
    price: float


def browse(shop: Shop, s: Search, shown: Sequence[str], rng: np.random.Generator) -> list[Visit]:
    """A shopper on the results page ``shown`` (SKUs, best first): position ``k`` examined with
    probability 1 / (k + 1), an examined item clicked with probability rising in its utility,
    a clicked one put in the cart likewise (Craswell et al. 2008's position-based model)."""
    row = {shop.skus[i]: j for j, i in enumerate(s.items)}
    visits = []
    for k, sku in enumerate(shown):
        u = s.utility[row[sku]]
        if rng.random() < 1.0 / (k + 1) and rng.random() < 1.0 / (1.0 + np.exp(2.0 * (2.0 - u))):
            carted = bool(rng.random() < 1.0 / (1.0 + np.exp(2.0 * (3.0 - u))))
            price = float(shop.price[s.items[row[sku]]])
            visits.append(Visit(k, sku, carted, price))
    return visits
