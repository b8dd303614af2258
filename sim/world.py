"""Catalog, query intents and ground-truth relevance of the synthetic storefront."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

CATEGORIES: Final = (
    "shoes",
    "jacket",
    "headphones",
    "backpack",
    "watch",
    "lamp",
    "blender",
    "tent",
    "keyboard",
    "sofa",
    "perfume",
    "bicycle",
)
ATTRIBUTES: Final = (
    "waterproof",
    "wireless",
    "organic",
    "compact",
    "premium",
    "vintage",
    "sporty",
    "kids",
)
LATENT_DIM: Final = len(ATTRIBUTES)
NUM_BRANDS: Final = 40
BRAND_NAMES: Final = tuple(f"brand{b:02d}" for b in range(NUM_BRANDS))
# The storefront every model is trained on and every shopper browses.
CATALOG_SEED: Final = 7


@dataclass(frozen=True)
class Catalog:
    category: npt.NDArray[np.int64]
    brand: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    latent: npt.NDArray[np.float64]
    quality: npt.NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.category.shape[0])


@dataclass(frozen=True)
class Intent:
    category: int
    attributes: tuple[int, ...]
    brand: int | None

    @property
    def text(self) -> str:
        words = [ATTRIBUTES[a] for a in self.attributes]
        if self.brand is not None:
            words.append(BRAND_NAMES[self.brand])
        words.append(CATEGORIES[self.category])
        return " ".join(words)


def make_catalog(num_items: int = 3000, seed: int = 7) -> Catalog:
    rng = np.random.default_rng(seed)
    category = rng.integers(0, len(CATEGORIES), num_items)
    base_price = np.exp(rng.normal(3.5, 0.8, len(CATEGORIES)))
    return Catalog(
        category=category.astype(np.int64),
        brand=rng.integers(0, NUM_BRANDS, num_items).astype(np.int64),
        price=base_price[category] * np.exp(rng.normal(0.0, 0.4, num_items)),
        latent=rng.normal(0.0, 1.0, (num_items, LATENT_DIM)),
        quality=rng.normal(0.0, 1.0, num_items),
    )


def sample_intent(rng: np.random.Generator) -> Intent:
    n_attr = int(rng.integers(0, 3))
    attributes = tuple(sorted(rng.choice(LATENT_DIM, n_attr, replace=False).tolist()))
    brand = int(rng.integers(0, NUM_BRANDS)) if rng.random() < 0.25 else None
    return Intent(int(rng.integers(0, len(CATEGORIES))), attributes, brand)


def utility(
    catalog: Catalog, intent: Intent, items: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """How much a shopper with ``intent`` wants each item (the simulator's ground truth)."""
    cat_match = (catalog.category[items] == intent.category).astype(np.float64)
    attr = (
        catalog.latent[items][:, list(intent.attributes)].sum(axis=1) if intent.attributes else 0.0
    )
    brand_match = (
        (catalog.brand[items] == intent.brand).astype(np.float64)
        if intent.brand is not None
        else 0.0
    )
    return np.asarray(
        2.5 * cat_match + 1.0 * attr + 1.5 * brand_match + 0.6 * catalog.quality[items]
    )


def relevance_grade(u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Graded relevance 0..3 for NDCG."""
    return np.clip(np.floor(u - 0.5), 0, 3).astype(np.int64)


def retrieve_candidates(
    catalog: Catalog,
    intent: Intent,
    rng: np.random.Generator,
    n_in_category: int = 24,
    n_other: int = 16,
) -> npt.NDArray[np.int64]:
    """A first-stage retrieval: some items of the intended category plus noise, shuffled."""
    in_cat = np.flatnonzero(catalog.category == intent.category)
    pick = rng.choice(in_cat, min(n_in_category, in_cat.size), replace=False)
    others = rng.choice(catalog.size, n_other, replace=False)
    candidates = np.unique(np.concatenate([pick, others]))
    rng.shuffle(candidates)
    return candidates.astype(np.int64)


def candidate_features(
    catalog: Catalog, intent: Intent, items: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """What a first-stage retrieval knows about each candidate and could send with it:
    [category matches the query, brand matches the query, standardised log price]."""
    category = (catalog.category[items] == intent.category).astype(np.float64)
    brand = (
        (catalog.brand[items] == intent.brand).astype(np.float64)
        if intent.brand is not None
        else np.zeros(items.size)
    )
    log_price = np.log(catalog.price)
    price = (np.log(catalog.price[items]) - log_price.mean()) / log_price.std()
    return np.stack([category, brand, price], axis=1)
