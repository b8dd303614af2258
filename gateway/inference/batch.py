"""Pure merge/split of ranking requests into one model batch.

A ranking request is one query and its candidates. The model scores (query,
candidate) pairs, so a batch is every request's pairs stacked along axis 0.
Each named ONNX input is either per request (``per_request``: one row, e.g. the
query's tokens or the request's context, repeated for each of its candidates) or
per pair (``per_pair``: one row per candidate, e.g. item ids or candidate
features). ``offsets`` remember where each request's rows start so scores split back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]
Array = npt.NDArray[np.generic]


@dataclass(frozen=True)
class RankInput:
    """One request's model input: per-request rows and per-candidate rows, by ONNX input name."""

    per_request: Mapping[str, Array]
    per_pair: Mapping[str, Array]
    pairs: int


@dataclass(frozen=True)
class MergedBatch:
    inputs: dict[str, Array]
    offsets: tuple[int, ...]

    @property
    def pairs(self) -> int:
        return self.offsets[-1]


def merge(inputs: Sequence[RankInput]) -> MergedBatch:
    """Stack the pairs of every request; per-request rows are repeated per candidate."""
    if not inputs:
        raise ValueError("merge needs at least one request")
    counts = [inp.pairs for inp in inputs]
    first = inputs[0]
    merged: dict[str, Array] = {}
    for name in first.per_request:
        rows = np.stack([inp.per_request[name] for inp in inputs])
        merged[name] = np.repeat(rows, counts, axis=0)
    for name in first.per_pair:
        merged[name] = np.concatenate([inp.per_pair[name] for inp in inputs])
    offsets = tuple(int(x) for x in np.cumsum([0, *counts]))
    return MergedBatch(merged, offsets)


def split(scores: Float32Array, offsets: Sequence[int]) -> list[Float32Array]:
    """Cut a batch's scores back into one array per request, in merge order."""
    if scores.shape[0] != offsets[-1]:
        raise ValueError(f"batch returned {scores.shape[0]} scores for {offsets[-1]} pairs")
    return [scores[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
