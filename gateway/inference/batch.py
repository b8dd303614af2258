"""Pure merge/split of ranking requests into one model batch.

A ranking request is one query and its candidates. The model scores (query,
candidate) pairs, so a batch is every request's pairs stacked along axis 0;
``offsets`` remember where each request's rows start so scores split back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RankInput:
    """One request's model input: query tokens [T] and candidate item indices [C]."""

    query_tokens: Int64Array
    item_index: Int64Array

    @property
    def pairs(self) -> int:
        return int(self.item_index.shape[0])


@dataclass(frozen=True)
class MergedBatch:
    query_tokens: Int64Array
    item_index: Int64Array
    offsets: tuple[int, ...]

    @property
    def pairs(self) -> int:
        return int(self.item_index.shape[0])


def merge(inputs: Sequence[RankInput]) -> MergedBatch:
    """Stack the pairs of every request; the query row is repeated per candidate."""
    if not inputs:
        raise ValueError("merge needs at least one request")
    counts = [inp.pairs for inp in inputs]
    tokens = np.repeat(np.stack([inp.query_tokens for inp in inputs]), counts, axis=0)
    items = np.concatenate([inp.item_index for inp in inputs])
    offsets = tuple(int(x) for x in np.cumsum([0, *counts]))
    return MergedBatch(
        tokens.astype(np.int64, copy=False), items.astype(np.int64, copy=False), offsets
    )


def split(scores: Float32Array, offsets: Sequence[int]) -> list[Float32Array]:
    """Cut a batch's scores back into one array per request, in merge order."""
    if scores.shape[0] != offsets[-1]:
        raise ValueError(f"batch returned {scores.shape[0]} scores for {offsets[-1]} pairs")
    return [scores[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
