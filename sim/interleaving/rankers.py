"""The demo rankers scored offline with ONNX Runtime (the files the gateway serves), many
searches per run, and a *blend* of two of them for pairs closer in quality than the demo's.

A blend ranks by (1 − λ)·z(a) + λ·z(b), z the per-search standardised scores: between the two
in quality, a few NDCG points from ``a`` for a small λ (its offline NDCG is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import orjson

from gateway.inference.features import item_indices, tokenize
from gateway.models.ranking_metrics import ndcg_at_k
from sim.build import MAX_TOKENS, VOCAB_BUCKETS

Scores = list[npt.NDArray[np.float64]]


@dataclass
class OnnxRanker:
    name: str
    path: Path
    num_items: int

    def __post_init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )

    def score(self, queries: Sequence[str], candidates: Sequence[npt.NDArray[np.int64]]) -> Scores:
        """One ONNX run for every (query, candidate) pair of many searches."""
        tokens = np.concatenate(
            [
                np.tile(tokenize(q, VOCAB_BUCKETS, MAX_TOKENS), (c.size, 1))
                for q, c in zip(queries, candidates, strict=True)
            ]
        )
        items = item_indices(np.concatenate(candidates), self.num_items)
        (out,) = self.session.run(None, {"query_tokens": tokens, "item_index": items})
        flat = np.asarray(out, dtype=np.float64).reshape(-1)
        cuts = np.cumsum([c.size for c in candidates])[:-1]
        return list(np.split(flat, cuts))


def _z(s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    sd = s.std()
    return (s - s.mean()) / sd if sd > 0 else s - s.mean()


@dataclass
class Blend:
    name: str
    a: OnnxRanker
    b: OnnxRanker
    weight: float  # λ: the share of b

    def score(self, queries: Sequence[str], candidates: Sequence[npt.NDArray[np.int64]]) -> Scores:
        sa, sb = self.a.score(queries, candidates), self.b.score(queries, candidates)
        return [
            (1 - self.weight) * _z(x) + self.weight * _z(y) for x, y in zip(sa, sb, strict=True)
        ]


Ranker = OnnxRanker | Blend


def offline_ndcg(ranker: Ranker, eval_file: Path) -> float:
    """Mean NDCG@10 on the gates' held-out evaluation set (graded by the simulator)."""
    lines = [orjson.loads(line) for line in eval_file.read_bytes().splitlines() if line.strip()]
    queries = [line["query"] for line in lines]
    candidates = [np.asarray([c["id"] for c in line["candidates"]], np.int64) for line in lines]
    grades = [np.asarray([c["grade"] for c in line["candidates"]]) for line in lines]
    scores = ranker.score(queries, candidates)
    return float(np.mean([ndcg_at_k(s, g, 10) for s, g in zip(scores, grades, strict=True)]))
