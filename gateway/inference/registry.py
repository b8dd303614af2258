"""Model registry: the versions on disk, each verified against its card and served by a batcher."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway.errors import ConfigError, NotFound
from gateway.inference.batch import Float32Array, MergedBatch, RankInput
from gateway.inference.batcher import BatchPolicy, DynamicBatcher
from gateway.inference.features import TOKENIZER_NAME, item_indices, tokenize
from gateway.inference.session import SessionOptions, create_session

log = logging.getLogger("abgate.inference")


@dataclass(frozen=True)
class ModelCard:
    version: str
    path: Path
    sha256: str
    vocab_buckets: int
    max_tokens: int
    num_items: int
    offline_ndcg_at_10: float
    raw: dict[str, Any]

    @classmethod
    def read(cls, card_path: Path) -> ModelCard:
        where = str(card_path)
        try:
            raw = json.loads(card_path.read_text())
            tokenizer = raw["tokenizer"]
            if tokenizer["name"] != TOKENIZER_NAME:
                raise ConfigError(
                    where, f"tokenizer {tokenizer['name']!r} is not {TOKENIZER_NAME!r}"
                )
            return cls(
                version=str(raw["version"]),
                path=card_path.parent / str(raw["file"]),
                sha256=str(raw["sha256"]),
                vocab_buckets=int(tokenizer["vocab_buckets"]),
                max_tokens=int(tokenizer["max_tokens"]),
                num_items=int(raw["num_items"]),
                offline_ndcg_at_10=float(raw["offline_ndcg_at_10"]),
                raw=raw,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(where, f"unreadable model card: {exc!r}") from exc


class LoadedModel:
    def __init__(self, card: ModelCard, policy: BatchPolicy, options: SessionOptions) -> None:
        digest = hashlib.sha256(card.path.read_bytes()).hexdigest()
        if digest != card.sha256:
            raise ConfigError(
                str(card.path), f"sha256 {digest} does not match its card ({card.sha256})"
            )
        self.card = card
        self.session, self.provider = create_session(card.path, options)
        self.batcher = DynamicBatcher(card.version, self.score, policy)

    def score(self, batch: MergedBatch) -> Float32Array:
        out = self.session.run(
            None, {"query_tokens": batch.query_tokens, "item_index": batch.item_index}
        )
        return np.asarray(out[0], dtype=np.float32)

    def prepare(self, query: str, item_ids: list[int]) -> RankInput:
        return RankInput(
            tokenize(query, self.card.vocab_buckets, self.card.max_tokens),
            item_indices(np.asarray(item_ids, dtype=np.int64), self.card.num_items),
        )

    async def rank(self, query: str, item_ids: list[int]) -> Float32Array:
        return await self.batcher.rank(self.prepare(query, item_ids))


class ModelRegistry:
    def __init__(self, models: dict[str, LoadedModel]) -> None:
        self._models = models

    @classmethod
    def load(cls, models_dir: Path, policy: BatchPolicy, options: SessionOptions) -> ModelRegistry:
        models: dict[str, LoadedModel] = {}
        for card_path in sorted(models_dir.glob("*/card.json")):
            card = ModelCard.read(card_path)
            models[card.version] = LoadedModel(card, policy, options)
            log.info(
                "loaded model %s (%s, NDCG@10 %.3f)",
                card.version,
                models[card.version].provider,
                card.offline_ndcg_at_10,
            )
        if not models:
            raise ConfigError(str(models_dir), "no model versions found (expected */card.json)")
        return cls(models)

    @property
    def versions(self) -> frozenset[str]:
        return frozenset(self._models)

    def get(self, version: str) -> LoadedModel:
        try:
            return self._models[version]
        except KeyError:
            raise NotFound(f"model version {version!r} is not loaded") from None

    def start(self) -> None:
        for model in self._models.values():
            model.batcher.start()

    async def close(self) -> None:
        for model in self._models.values():
            await model.batcher.close()

    def cards(self) -> list[dict[str, Any]]:
        return [m.card.raw | {"provider": m.provider} for m in self._models.values()]
