"""From a search (query, candidate ids, their features, the request context) to a model's
declared inputs (:class:`gateway.models.card.InputSpec`). Serving and the offline gates both
call :func:`rank_input`, so what a model is checked on is what it is served."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.errors import RequestError
from gateway.inference.batch import Array, RankInput
from gateway.inference.features import item_indices, tokenize
from gateway.models.card import InputSpec


def rank_input(
    specs: Sequence[InputSpec],
    version: str,
    query: str,
    item_ids: npt.NDArray[np.int64],
    features: npt.NDArray[np.float32] | None,
    context: Mapping[str, Any],
) -> RankInput:
    per_request: dict[str, Array] = {}
    per_pair: dict[str, Array] = {}
    for spec in specs:
        if spec.source == "query_tokens":
            per_request[spec.name] = tokenize(query, spec.vocab_buckets, spec.max_tokens)
        elif spec.source == "item_ids":
            per_pair[spec.name] = item_indices(item_ids, spec.num_items)
        elif spec.source == "candidate_features":
            if features is None:
                raise RequestError(
                    "$.candidates",
                    f"model version {version!r} reads {spec.dim} features per candidate: send "
                    'candidates as [{"id": 12, "features": [...]}, ...]',
                )
            if features.shape[1] != spec.dim:
                raise RequestError(
                    "$.candidates[0].features",
                    f"model version {version!r} reads {spec.dim} features per candidate, "
                    f"got {features.shape[1]}",
                )
            per_pair[spec.name] = features
        else:
            per_request[spec.name] = _context(spec, context)
    return RankInput(per_request, per_pair, int(item_ids.shape[0]))


def _context(spec: InputSpec, context: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    row = np.zeros(len(spec.keys), dtype=np.float32)
    for i, key in enumerate(spec.keys):
        value = context.get(key, 0.0)
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > 3e38:
            raise RequestError(f"$.context.{key}", f"expected a finite number, got {value!r}")
        row[i] = value
    return row
