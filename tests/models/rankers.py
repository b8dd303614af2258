"""Small real ONNX rankers that read named candidate features, built with onnx's helper API in
milliseconds: ``score = features @ weights``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper


def linear_ranker(weights: Sequence[float]) -> bytes:
    """float32 ``features [pairs, len(weights)]`` -> float32 ``score [pairs, 1]``."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "weights"], ["score"])],
        "linear-ranker",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["pairs", len(weights)])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["pairs", 1])],
        [helper.make_tensor("weights", TensorProto.FLOAT, [len(weights), 1], list(weights))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def linear_card(
    version: str, features: Sequence[str], dataset: str | None = None
) -> dict[str, Any]:
    """The card of :func:`linear_ranker` reading the named ``features`` in that order."""
    card: dict[str, Any] = {
        "version": version,
        "inputs": [
            {"name": "features", "source": "candidate_features", "features": list(features)}
        ],
        "output": "score",
        "description": "linear in named features",
    }
    if dataset is not None:
        card["dataset"] = {"id": dataset}
    return card
