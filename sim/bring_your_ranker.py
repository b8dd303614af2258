"""Bring your ranker: a LightGBM LambdaMART or an XGBoost ranker, trained on named features,
exported to ONNX with onnxmltools and described by the card abgate registers it with.

``tests/sim/test_bring_your_ranker.py`` checks that the exports score as the native models do
and match their cards. Needs ``pip install lightgbm xgboost onnxmltools`` (the ``dev`` extras
pin them).

Two things the libraries do not say:

- onnxmltools has no converter for ``XGBRanker``: its booster goes into an ``XGBRegressor``
  (the converter reads the objective from the booster and emits the raw margin, which is what
  ``XGBRanker.predict`` returns). A raw ``Booster`` converts without error into a wrong model.
- LightGBM keeps split thresholds in float64, ONNX in float32: a threshold that rounds up
  sends an input equal to the rounded value down the other branch. Each is rounded down to the
  nearest float32 before the export, which leaves LightGBM's own float32 predictions as they
  were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


def train_lightgbm(x: Matrix, grades: Labels, qid: Labels, trees: int = 100) -> Any:
    import lightgbm as lgb

    model = lgb.LGBMRanker(
        objective="lambdarank", n_estimators=trees, n_jobs=1, random_state=0, verbose=-1
    )
    model.fit(x, grades, group=np.bincount(qid))  # rows grouped by query, in order
    return model


def lightgbm_to_onnx(model: Any, features: int) -> bytes:
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    def float32_down(token: str) -> str:
        value = float(token)
        down = np.float32(value)
        if float(down) > value:
            down = np.nextafter(down, np.float32(-np.inf))
        return token if float(down) == value else repr(float(down))

    # ONNX keeps split thresholds in float32: each rounded down, so that no split flips.
    lines = []
    for line in model.booster_.model_to_string().splitlines():
        if line.startswith("threshold="):
            line = "threshold=" + " ".join(float32_down(t) for t in line[10:].split())
        if not line.startswith("tree_sizes="):  # byte offsets, stale after the rewrite
            lines.append(line)
    booster = lgb.Booster(model_str="\n".join(lines) + "\n")
    types = [("features", FloatTensorType([None, features]))]
    return bytes(convert_lightgbm(booster, initial_types=types).SerializeToString())


def train_xgboost(x: Matrix, grades: Labels, qid: Labels, trees: int = 100) -> Any:
    import xgboost as xgb

    model = xgb.XGBRanker(
        objective="rank:ndcg", n_estimators=trees, max_depth=4, n_jobs=1, random_state=0
    )
    model.fit(x, grades, qid=qid)  # query ids sorted
    return model


def xgboost_to_onnx(model: Any, features: int) -> bytes:
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = model.get_booster().copy()
    booster.feature_names = None  # the converter reads splits as f0, f1, ...
    booster.feature_types = None
    regressor = xgb.XGBRegressor()
    regressor._Booster = booster
    types = [("features", FloatTensorType([None, features]))]
    return bytes(convert_xgboost(regressor, initial_types=types).SerializeToString())


def card(version: str, features: Sequence[str], dataset: str, description: str) -> dict[str, Any]:
    """The card: the ONNX input ``features`` reads the named features in this order; the
    exports' output is ``variable``, float32 [pairs, 1]."""
    return {
        "version": version,
        "description": description,
        "inputs": [{"name": "features", "source": "candidate_features", "features": [*features]}],
        "output": "variable",
        "dataset": {"id": dataset},
    }
