"""From a search (query, candidate ids, their features, the request context) to a model's
declared inputs (:class:`gateway.models.card.InputSpec`). Serving and the offline gates both
call :func:`rank_input`, so what a model is checked on is what it is served.

Named features are read by name (:meth:`FeatureTable.select`): a version that reads a feature
the search lacks raises :class:`MissingFeatures` naming it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.errors import RequestError
from gateway.inference.batch import Array, RankInput
from gateway.inference.feature_table import FeatureTable, MissingFeatures
from gateway.inference.features import item_indices, tokenize, vocabulary_indices
from gateway.models.card import InputSpec


def rank_input(
    specs: Sequence[InputSpec],
    version: str,
    query: str,
    item_ids: Sequence[int | str],
    features: FeatureTable | None,
    context: Mapping[str, Any],
) -> RankInput:
    per_request: dict[str, Array] = {}
    per_pair: dict[str, Array] = {}
    for spec in specs:
        if spec.source == "query_tokens":
            per_request[spec.name] = tokenize(query, spec.vocab_buckets, spec.max_tokens)
        elif spec.source == "item_ids":
            per_pair[spec.name] = (
                item_indices(item_ids, spec.num_items)
                if spec.vocabulary is None
                else vocabulary_indices(item_ids, spec.vocabulary, spec.oov_index)
            )
        elif spec.source == "candidate_features":
            per_pair[spec.name] = _candidate_features(spec, version, features)
        else:
            per_request[spec.name] = _context(spec, context)
    return RankInput(per_request, per_pair, len(item_ids))


def _candidate_features(
    spec: InputSpec, version: str, features: FeatureTable | None
) -> npt.NDArray[np.floating[Any]]:
    if spec.features:
        if features is None:
            raise MissingFeatures(version, spec.features)
        values = features.select(spec.features, version)
    else:
        if features is None or features.names is not None:
            raise MissingFeatures(
                version,
                (),
                f"reads {spec.dim} features per candidate (unnamed): send candidates as "
                '[{"id": "SKU-1", "features": [...]}, ...]',
            )
        if features.width != spec.dim:
            raise RequestError(
                "$.candidates[0].features",
                f"model version {version!r} reads {spec.dim} features per candidate, "
                f"got {features.width}",
            )
        values = features.values
    if spec.feature_dtype != "float32":
        return values.astype(spec.feature_dtype)
    return values


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
