"""The versions this process serves: ONNX Runtime sessions built from registered cards, each
behind its own dynamic batcher. Which versions are loaded is decided by
:mod:`gateway.models.follower`; this module only loads, serves and unloads."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway import metrics
from gateway.errors import ConfigError, InferenceError
from gateway.inference.batch import Float32Array, MergedBatch, RankInput, merge
from gateway.inference.batcher import BatchPolicy, DynamicBatcher
from gateway.inference.feature_table import FeatureTable
from gateway.inference.inputs import rank_input
from gateway.inference.session import SessionOptions, create_session
from gateway.models.card import Declaration, TensorInfo, check_signature

log = logging.getLogger("abgate.inference")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxRanker:
    """One version's session and its input contract; scores merged batches synchronously."""

    def __init__(
        self,
        declaration: Declaration,
        path: Path,
        options: SessionOptions,
        sha256: str | None = None,
    ) -> None:
        if sha256 is not None and (digest := sha256_file(path)) != sha256:
            raise ConfigError(str(path), f"sha256 {digest} does not match its card ({sha256})")
        try:
            self.session, self.provider = create_session(path, options)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ConfigError("model", f"not a loadable ONNX model: {exc}") from None
        self.declaration = declaration
        check_signature(declaration, *self.signature_info())

    @property
    def version(self) -> str:
        return self.declaration.version

    def signature_info(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        def info(items: Any) -> list[TensorInfo]:
            return [TensorInfo(i.name, i.type, tuple(i.shape)) for i in items]

        return info(self.session.get_inputs()), info(self.session.get_outputs())

    def signature(self) -> dict[str, Any]:
        inputs, outputs = self.signature_info()

        def row(t: TensorInfo) -> dict[str, Any]:
            return {"name": t.name, "type": t.type, "shape": list(t.shape)}

        return {"inputs": [row(t) for t in inputs], "outputs": [row(t) for t in outputs]}

    def score(self, batch: MergedBatch) -> Float32Array:
        out = self.session.run([self.declaration.output], batch.inputs)
        return np.asarray(out[0], dtype=np.float32).reshape(-1)

    def prepare(
        self,
        query: str,
        item_ids: Sequence[int | str] | npt.NDArray[np.int64],
        features: FeatureTable | npt.NDArray[np.float32] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> RankInput:
        if features is not None and not isinstance(features, FeatureTable):
            features = FeatureTable(np.asarray(features, dtype=np.float32))  # unnamed arrays
        ids = item_ids.tolist() if isinstance(item_ids, np.ndarray) else item_ids
        return rank_input(
            self.declaration.inputs, self.version, query, ids, features, context or {}
        )

    def warm_up(self) -> None:
        """Score one small batch so the first search does not pay for allocation."""
        names = self.declaration.feature_names
        d = len(names) or self.declaration.feature_dim
        features = FeatureTable(np.zeros((4, d), dtype=np.float32), names or None) if d else None
        self.score(merge([self.prepare("warm up", [0, 1, 2, 3], features)]))


class LoadedModel(OnnxRanker):
    """A ranker served through its dynamic batcher."""

    def __init__(
        self,
        declaration: Declaration,
        path: Path,
        policy: BatchPolicy,
        options: SessionOptions,
        sha256: str | None = None,
    ) -> None:
        super().__init__(declaration, path, options, sha256)
        metrics.series_of_version(declaration.version)  # served from now: its series at zero
        self.batcher = DynamicBatcher(declaration.version, self.score, policy)

    async def rank(
        self,
        query: str,
        item_ids: Sequence[int | str],
        features: FeatureTable | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Float32Array:
        return await self.batcher.rank(self.prepare(query, item_ids, features, context))


class ModelRegistry:
    """The loaded versions of this process, by version id."""

    def __init__(self) -> None:
        self._models: dict[str, LoadedModel] = {}

    @property
    def versions(self) -> frozenset[str]:
        return frozenset(self._models)

    def get(self, version: str) -> LoadedModel:
        try:
            return self._models[version]
        except KeyError:
            raise InferenceError(
                f"model version {version!r} is not loaded in this process (yet)"
            ) from None

    def add(self, model: LoadedModel) -> None:
        """Serve ``model`` (call on the event loop: its batcher starts here)."""
        old = self._models.get(model.version)
        self._models[model.version] = model
        model.batcher.start()
        if old is not None and old is not model:
            log.warning("model %s replaced while loaded", model.version)

    async def remove(self, version: str) -> None:
        model = self._models.pop(version, None)
        if model is not None:
            await model.batcher.close()

    async def close(self) -> None:
        for version in list(self._models):
            await self.remove(version)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"version": v, "provider": m.provider, "batcher": m.batcher.stats()}
            for v, m in sorted(self._models.items())
        ]
