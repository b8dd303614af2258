"""The recipe of the README's "Bring your ranker" (:mod:`sim.bring_your_ranker`): a LightGBM
and an XGBoost ranker exported to ONNX score as the native models do, with the signature that
the card declares."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from gateway.models.card import TensorInfo, check_signature, parse_declaration
from sim.bring_your_ranker import (
    card,
    lightgbm_to_onnx,
    train_lightgbm,
    train_xgboost,
    xgboost_to_onnx,
)
from sim.sku_shop import FEATURES, make_shop, training_set

RECIPES = {
    "lightgbm": (train_lightgbm, lightgbm_to_onnx),
    "xgboost": (train_xgboost, xgboost_to_onnx),
}


def _session(onnx: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a fixed summation order
    return ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])


def _info(values: Any) -> list[TensorInfo]:
    return [TensorInfo(v.name, v.type, tuple(v.shape)) for v in values]


@pytest.mark.parametrize("library", sorted(RECIPES))
def test_the_export_scores_as_the_native_model_and_matches_its_card(library: str) -> None:
    train, export = RECIPES[library]
    x, grades, qid = training_set(make_shop(), queries=80, seed=5)
    model = train(x, grades, qid, 30)
    session = _session(export(model, len(FEATURES)))

    declared = parse_declaration(card("v1", FEATURES, "eval", library))
    check_signature(declared, _info(session.get_inputs()), _info(session.get_outputs()))
    (scores,) = session.run(["variable"], {"features": x})
    assert scores.shape == (len(x), 1) and scores.dtype == np.float32
    native = np.asarray(model.predict(x), dtype=np.float64)
    # ONNX Runtime sums the trees in float32, the libraries in float64 (LightGBM) or float32.
    np.testing.assert_allclose(scores[:, 0], native, rtol=0, atol=1e-5 * np.abs(native).max())
