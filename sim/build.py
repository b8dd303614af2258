"""Train the demo ranking models on logged simulated interactions and export them to ONNX.

Three versions: ``prod-v1`` (the production model), ``cand-v2`` (a better
candidate: more logs, a wider model) and ``worse-v0`` (a query-blind model that
ranks by item popularity alone). Each gets the card a registrant would send
(declared inputs, parent, training data, offline NDCG@10 against ground truth);
``abgate`` registers them from ``var/demo-models/<version>/``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from gateway.inference.features import TOKENIZER_NAME, item_indices, tokenize
from sim.clicks import simulate_page
from sim.metrics import ndcg_at_k
from sim.world import (
    CATALOG_SEED,
    Catalog,
    make_catalog,
    relevance_grade,
    retrieve_candidates,
    sample_intent,
    utility,
)

VOCAB_BUCKETS: Final = 4096
MAX_TOKENS: Final = 6
PAGE_SIZE: Final = 10


@dataclass(frozen=True)
class VersionRecipe:
    version: str
    description: str
    log_pages: int
    dim: int
    epochs: int
    use_query: bool
    seed: int


RECIPES: Final = (
    VersionRecipe("prod-v1", "production ranker", 6_000, 12, 2, True, 11),
    VersionRecipe("cand-v2", "better candidate: 12x the logs, wider", 30_000, 24, 4, True, 12),
    VersionRecipe("worse-v0", "query-blind popularity ranker", 2_500, 8, 2, False, 13),
)


def logged_interactions(
    catalog: Catalog, pages: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Pages shown in random order by a logging policy, with the clicks they got."""
    rng = np.random.default_rng(seed)
    tokens, items, labels = [], [], []
    for _ in range(pages):
        intent = sample_intent(rng)
        shown = retrieve_candidates(catalog, intent, rng)[:PAGE_SIZE]
        clicked = {i.item for i in simulate_page(catalog, intent, shown, rng)}
        q = tokenize(intent.text, VOCAB_BUCKETS, MAX_TOKENS)
        for item in shown:
            tokens.append(q)
            items.append(item)
            labels.append(1.0 if int(item) in clicked else 0.0)
    return (
        np.stack(tokens),
        item_indices(np.asarray(items, dtype=np.int64), catalog.size),
        np.asarray(labels, dtype=np.float32),
    )


def offline_ndcg(catalog: Catalog, score: Any, queries: int = 400, seed: int = 99) -> float:
    """Mean NDCG@10 over fresh queries; ``score(tokens, item_index) -> scores``."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(queries):
        intent = sample_intent(rng)
        candidates = retrieve_candidates(catalog, intent, rng)
        tokens = np.tile(tokenize(intent.text, VOCAB_BUCKETS, MAX_TOKENS), (candidates.size, 1))
        scores = score(tokens, item_indices(candidates, catalog.size))
        grades = relevance_grade(utility(catalog, intent, candidates))
        values.append(ndcg_at_k(np.asarray(scores, dtype=np.float64), grades))
    return float(np.mean(values))


def _train(catalog: Catalog, recipe: VersionRecipe) -> Any:
    import torch

    from sim.ranker import Ranker

    torch.manual_seed(recipe.seed)
    tokens, items, labels = logged_interactions(catalog, recipe.log_pages, recipe.seed)
    model = Ranker(catalog, VOCAB_BUCKETS, recipe.dim, recipe.use_query)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t, i, y = torch.as_tensor(tokens), torch.as_tensor(items), torch.as_tensor(labels)
    for _ in range(recipe.epochs):
        order = torch.randperm(y.shape[0])
        for start in range(0, y.shape[0], 512):
            batch = order[start : start + 512]
            optimiser.zero_grad()
            loss = loss_fn(model(t[batch], i[batch]), y[batch])
            loss.backward()
            optimiser.step()
    model.eval()
    return model


def _export(model: Any, path: Path) -> None:
    import torch

    example = (torch.zeros(2, MAX_TOKENS, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["query_tokens", "item_index"],
            output_names=["score"],
            dynamic_axes={
                "query_tokens": {0: "pairs"},
                "item_index": {0: "pairs"},
                "score": {0: "pairs"},
            },
            dynamo=False,
            opset_version=17,
        )


def build_version(catalog: Catalog, recipe: VersionRecipe, models_dir: Path) -> dict[str, Any]:
    import onnxruntime as ort

    started = time.monotonic()
    model = _train(catalog, recipe)
    out = models_dir / recipe.version
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.onnx.tmp"
    _export(model, tmp)
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    ndcg = offline_ndcg(
        catalog, lambda t, i: session.run(None, {"query_tokens": t, "item_index": i})[0]
    )
    card = demo_card(
        recipe,
        catalog.size,
        ndcg,
        {
            "logged_pages": recipe.log_pages,
            "embedding_dim": recipe.dim,
            "epochs": recipe.epochs,
            "seed": recipe.seed,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    tmp.replace(out / "model.onnx")
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def demo_card(
    recipe: VersionRecipe, num_items: int, ndcg: float, training: dict[str, Any]
) -> dict[str, Any]:
    """The card a registrant sends with a demo version: its declared inputs and provenance."""
    return {
        "version": recipe.version,
        "description": recipe.description,
        "inputs": [
            {
                "name": "query_tokens",
                "source": "query_tokens",
                "tokenizer": {
                    "name": TOKENIZER_NAME,
                    "vocab_buckets": VOCAB_BUCKETS,
                    "max_tokens": MAX_TOKENS,
                },
            },
            {"name": "item_index", "source": "item_ids", "num_items": num_items},
        ],
        "output": "score",
        "parent": None if recipe.version == "prod-v1" else "prod-v1",
        "dataset": {
            "id": f"storefront-logs-{recipe.log_pages}-pages-seed{recipe.seed}",
            "description": "clicks logged by the synthetic storefront under a random ranking",
        },
        "offline_metrics": {"ndcg_at_10": round(ndcg, 4)},
        "notes": "trained by sim/build.py: " + json.dumps(training, sort_keys=True),
    }


def ensure_demo_models(models_dir: Path, log: Any = print) -> list[dict[str, Any]]:
    """Build any demo version whose card is missing; return every card."""
    catalog = make_catalog(seed=CATALOG_SEED)
    cards = []
    for recipe in RECIPES:
        card_path = models_dir / recipe.version / "card.json"
        if card_path.exists():
            cards.append(json.loads(card_path.read_text()))
            continue
        log(f"building model {recipe.version} ({recipe.description}) ...")
        started = time.monotonic()
        card = build_version(catalog, recipe, models_dir)
        log(
            f"  {recipe.version}: NDCG@10 {card['offline_metrics']['ndcg_at_10']:.3f} "
            f"in {time.monotonic() - started:.1f} s"
        )
        cards.append(card)
    return cards


if __name__ == "__main__":
    import sys

    ensure_demo_models(Path(sys.argv[1] if len(sys.argv) > 1 else "var/demo-models"))
