"""The recipe of docs/bring-your-ranker.md (:mod:`sim.bring_your_ranker`): a LightGBM and an
XGBoost ranker exported to ONNX score as the native models do, with the signature that the
card declares; the page shows that very code, and its examples parse."""

from __future__ import annotations

import inspect
import re
import tomllib
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest

from gateway.config.parse import parse_experiment
from gateway.models.card import TensorInfo, check_signature, parse_declaration, parse_input
from gateway.schema import parse_outcomes, parse_search
from gateway.settings import ROOT
from sim import bring_your_ranker
from sim.bring_your_ranker import (
    card,
    lightgbm_to_onnx,
    train_lightgbm,
    train_xgboost,
    xgboost_to_onnx,
)
from sim.sku_shop import FEATURES, SENT, make_shop, training_set

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


def _page() -> str:
    return (ROOT / "docs" / "bring-your-ranker.md").read_text()


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_the_page_shows_this_recipe_and_its_examples_parse() -> None:
    """Its Python is this module's, verbatim; its card, item vocabulary, experiment, search
    and checkout purchase are read by the gateway's own parsers."""
    section = _page()
    source = inspect.getsource(bring_your_ranker)
    python = _blocks(section, "python")
    assert len(python) == 2
    for block in python:
        assert block in source, block
    card_json, vocabulary, search, events = (orjson.loads(b) for b in _blocks(section, "json"))
    assert parse_declaration(card_json).feature_names == SENT
    assert parse_input(vocabulary, "input").vocabulary == {"SKU-00042": 1, "SKU-00453": 2}
    features = parse_search(orjson.dumps(search)).features
    assert features is not None and features.names == SENT
    ((_, purchase),) = parse_outcomes(orjson.dumps(events), now=0.0)
    assert (purchase.type, purchase.search_id, purchase.item_id) == ("purchase", "", "SKU-00453")
    (toml,) = _blocks(section, "toml")
    experiment = parse_experiment(tomllib.loads(toml), "experiment")
    assert [v.weight for v in experiment.variants] == pytest.approx([1 / 3] * 3)
    assert experiment.analysis.attribution_window_s == 86_400
