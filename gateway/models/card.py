"""The model card: what a registrant declares about a version, and what abgate records.

A registrant declares, for each ONNX input, where its values come from:

- ``query_tokens``: the query, tokenised by a named tokenizer (``crc32-ws-v1`` with
  ``vocab_buckets`` and ``max_tokens``): int64 ``[pairs, max_tokens]``;
- ``item_ids``: each candidate's catalogue id mapped to an embedding row: through the
  ``vocabulary`` shipped with the card (``{"SKU-1": 1, ...}``; an id it lacks reads as
  ``oov_index``), or, for integer ids, ``num_items`` (id ``i`` is row ``i + 1``; row 0 is an
  unknown item): int64 ``[pairs]``;
- ``candidate_features``: the **named** features each candidate carries in the search
  (``features``: the names in the input's column order; ``dtype`` float32 or float64):
  ``[pairs, len(features)]``. Versions with different feature sets serve the same searches,
  each reading its own columns by name. (``dim``: that many unnamed numbers per candidate,
  the older form, for searches that send arrays);
- ``context``: named numbers from the request's ``context`` object (``keys``, a
  missing key reads as 0): float32 ``[pairs, len(keys)]``.

abgate adds the sha256, size and signature of the ONNX file, who registered it
and when, the gates' results, the state and an admin override, if any.
Every parse error names the field, e.g. ``card.inputs[1].num_items``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from gateway.errors import ConfigError
from gateway.inference.features import TOKENIZER_NAME

InputSource = Literal["query_tokens", "item_ids", "candidate_features", "context"]
SOURCES: Final = ("query_tokens", "item_ids", "candidate_features", "context")
TOKENIZERS: Final = (TOKENIZER_NAME,)
State = Literal["gating", "passed", "failed"]
VERSION_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_FEATURES: Final = 256
MAX_NOTES: Final = 2000
MAX_VOCABULARY: Final = 500_000
MAX_FEATURE_NAME: Final = 64
FEATURE_DTYPES: Final = ("float32", "float64")


@dataclass(frozen=True)
class InputSpec:
    name: str
    source: InputSource
    tokenizer: str = ""
    vocab_buckets: int = 0
    max_tokens: int = 0
    num_items: int = 0
    dim: int = 0
    keys: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # named candidate features, in column order
    feature_dtype: str = "float32"
    vocabulary: Mapping[str, int] | None = None  # item id (as text) -> embedding row
    oov_index: int = 0

    @property
    def dtype(self) -> str:
        if self.source in ("query_tokens", "item_ids"):
            return "int64"
        return self.feature_dtype if self.source == "candidate_features" else "float32"

    @property
    def width(self) -> int | None:
        """The static second dimension, or None for a rank-1 input."""
        if self.source == "query_tokens":
            return self.max_tokens
        if self.source == "candidate_features":
            return len(self.features) or self.dim
        if self.source == "context":
            return len(self.keys)
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source}
        if self.source == "query_tokens":
            out["tokenizer"] = {
                "name": self.tokenizer,
                "vocab_buckets": self.vocab_buckets,
                "max_tokens": self.max_tokens,
            }
        elif self.source == "item_ids":
            if self.vocabulary is not None:
                out["vocabulary"] = dict(self.vocabulary)
                out["oov_index"] = self.oov_index
            if self.num_items:
                out["num_items"] = self.num_items
        elif self.source == "candidate_features":
            if self.features:
                out["features"] = list(self.features)
            else:
                out["dim"] = self.dim
            if self.feature_dtype != "float32":
                out["dtype"] = self.feature_dtype
        else:
            out["keys"] = list(self.keys)
        return out


@dataclass(frozen=True)
class Declaration:
    """What the registrant says about a version (the card's request part)."""

    version: str
    inputs: tuple[InputSpec, ...]
    output: str = "score"
    parent: str | None = None
    dataset: Mapping[str, str] = field(default_factory=dict)
    offline_metrics: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    notes: str = ""

    @property
    def feature_dim(self) -> int:
        """Features each candidate must carry (0: plain ids are enough)."""
        return max((i.dim for i in self.inputs if i.source == "candidate_features"), default=0)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every named candidate feature this version reads (the search must carry them)."""
        names = (n for i in self.inputs if i.source == "candidate_features" for n in i.features)
        return tuple(dict.fromkeys(names))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "inputs": [i.to_json() for i in self.inputs],
            "output": self.output,
            "parent": self.parent,
            "dataset": dict(self.dataset),
            "offline_metrics": dict(self.offline_metrics),
            "description": self.description,
            "notes": self.notes,
        }


def _object(value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown field; allowed: {sorted(allowed)}")
    return value


def _int(data: Mapping[str, Any], name: str, where: str, lo: int, hi: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{name}", f"expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _text(data: Mapping[str, Any], name: str, where: str, limit: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ConfigError(f"{where}.{name}", f"expected a string of at most {limit} characters")
    return value


def parse_version(value: Any, where: str) -> str:
    if not isinstance(value, str) or not VERSION_RE.match(value):
        raise ConfigError(
            where,
            "expected 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter "
            f"or digit, got {value!r}",
        )
    return value


def parse_input(value: Any, where: str) -> InputSpec:
    data = _object(
        value,
        where,
        (
            "name",
            "source",
            "tokenizer",
            "num_items",
            "vocabulary",
            "oov_index",
            "dim",
            "features",
            "dtype",
            "keys",
            "description",
        ),
    )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name", f"expected the ONNX input's name, got {name!r}")
    source = data.get("source")
    if source not in SOURCES:
        raise ConfigError(f"{where}.source", f"must be one of {list(SOURCES)}, got {source!r}")
    where = f"{where} {name!r}"
    if source == "query_tokens":
        tok = _object(
            data.get("tokenizer"), f"{where}.tokenizer", ("name", "vocab_buckets", "max_tokens")
        )
        if tok.get("name") not in TOKENIZERS:
            raise ConfigError(
                f"{where}.tokenizer.name",
                f"must be one of {list(TOKENIZERS)}, got {tok.get('name')!r}",
            )
        return InputSpec(
            name,
            "query_tokens",
            tokenizer=str(tok["name"]),
            vocab_buckets=_int(tok, "vocab_buckets", f"{where}.tokenizer", 2, 1 << 24),
            max_tokens=_int(tok, "max_tokens", f"{where}.tokenizer", 1, 256),
        )
    if source == "item_ids":
        return _item_ids(name, data, where)
    if source == "candidate_features":
        return _candidate_features(name, data, where)
    keys = data.get("keys")
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_FEATURES
        or not all(isinstance(k, str) and k for k in keys)
        or len(set(keys)) != len(keys)
    ):
        raise ConfigError(
            f"{where}.keys", f"expected a list of distinct context keys, got {keys!r}"
        )
    return InputSpec(name, "context", keys=tuple(keys))


def _item_ids(name: str, data: Mapping[str, Any], where: str) -> InputSpec:
    if "vocabulary" not in data:
        if "oov_index" in data:
            raise ConfigError(f"{where}.oov_index", "goes with a vocabulary")
        return InputSpec(name, "item_ids", num_items=_int(data, "num_items", where, 1, 1 << 40))
    vocabulary = data["vocabulary"]
    if not isinstance(vocabulary, Mapping) or not 1 <= len(vocabulary) <= MAX_VOCABULARY:
        raise ConfigError(
            f"{where}.vocabulary",
            f"expected an object of item id -> embedding row, 1 to {MAX_VOCABULARY} entries",
        )
    for item, row in vocabulary.items():
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 1 << 40:
            raise ConfigError(
                f"{where}.vocabulary[{item!r}]", f"expected an embedding row >= 0, got {row!r}"
            )
    oov = _int(data, "oov_index", where, 0, 1 << 40) if "oov_index" in data else 0
    num_items = _int(data, "num_items", where, 1, 1 << 40) if "num_items" in data else 0
    return InputSpec(
        name,
        "item_ids",
        num_items=num_items,
        vocabulary={str(k): int(v) for k, v in vocabulary.items()},
        oov_index=oov,
    )


def _candidate_features(name: str, data: Mapping[str, Any], where: str) -> InputSpec:
    dtype = data.get("dtype", "float32")
    if dtype not in FEATURE_DTYPES:
        raise ConfigError(f"{where}.dtype", f"must be one of {list(FEATURE_DTYPES)}, got {dtype!r}")
    if "features" not in data:
        dim = _int(data, "dim", where, 1, MAX_FEATURES)
        return InputSpec(name, "candidate_features", dim=dim, feature_dtype=dtype)
    if "dim" in data:
        raise ConfigError(f"{where}.dim", "declare either the features' names or a dim, not both")
    names = data["features"]
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_FEATURES:
        raise ConfigError(
            f"{where}.features",
            f"expected a list of 1 to {MAX_FEATURES} feature names in the input's column order",
        )
    for i, n in enumerate(names):
        if (
            not isinstance(n, str)
            or not 1 <= len(n) <= MAX_FEATURE_NAME
            or not n.isprintable()
            or n.isspace()
        ):
            raise ConfigError(
                f"{where}.features[{i}]",
                f"expected a printable name of 1-{MAX_FEATURE_NAME} characters, got {n!r}",
            )
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{where}.features", f"names must be distinct; repeated: {twice}")
    return InputSpec(name, "candidate_features", features=tuple(names), feature_dtype=dtype)


# What a registrant may declare in a card; abgate adds the rest (ModelCard).
DECLARED_FIELDS: Final = (
    "version",
    "inputs",
    "output",
    "parent",
    "dataset",
    "offline_metrics",
    "description",
    "notes",
)


def parse_declaration(value: Any, where: str = "card") -> Declaration:
    data = _object(value, where, DECLARED_FIELDS)
    version = parse_version(data.get("version"), f"{where}.version")
    raw_inputs = data.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ConfigError(f"{where}.inputs", "expected a list declaring each ONNX input")
    inputs = tuple(parse_input(x, f"{where}.inputs[{i}]") for i, x in enumerate(raw_inputs))
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.inputs", f"input names must be unique, got {names}")
    unnamed = [i.name for i in inputs if i.source == "candidate_features" and not i.features]
    named = [i.name for i in inputs if i.source == "candidate_features" and i.features]
    if len(unnamed) > 1 or (unnamed and named):
        raise ConfigError(
            f"{where}.inputs",
            "at most one candidate_features input by dim, and not beside named ones; got "
            f"{unnamed + named}",
        )
    output = data.get("output", "score")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"{where}.output", f"expected the ONNX output's name, got {output!r}")
    parent = data.get("parent")
    if parent is not None:
        parent = parse_version(parent, f"{where}.parent")
    dataset = _object(data.get("dataset", {}), f"{where}.dataset", ("id", "sha256", "description"))
    for k, v in dataset.items():
        if not isinstance(v, str) or len(v) > 256:
            raise ConfigError(f"{where}.dataset.{k}", f"expected a string, got {v!r}")
    metrics = data.get("offline_metrics", {})
    if not isinstance(metrics, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        for k, v in metrics.items()
    ):
        raise ConfigError(f"{where}.offline_metrics", "expected an object of name -> finite number")
    return Declaration(
        version=version,
        inputs=inputs,
        output=output,
        parent=parent,
        dataset=dict(dataset),
        offline_metrics={k: float(v) for k, v in metrics.items()},
        description=_text(data, "description", where, MAX_NOTES),
        notes=_text(data, "notes", where, MAX_NOTES),
    )


@dataclass(frozen=True)
class TensorInfo:
    """One ONNX input or output as the runtime reports it."""

    name: str
    type: str  # e.g. "tensor(int64)"
    shape: tuple[int | str | None, ...]


_ONNX_TYPES: Final = {
    "int64": "tensor(int64)",
    "float32": "tensor(float)",
    "float64": "tensor(double)",
}


def check_signature(
    declaration: Declaration, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]
) -> None:
    """Raise :class:`ConfigError` naming the input if the ONNX graph is not as declared."""
    onnx = {t.name: t for t in inputs}
    declared = {i.name for i in declaration.inputs}
    for index, spec in enumerate(declaration.inputs):
        where = f"card.inputs[{index}] {spec.name!r}"
        info = onnx.get(spec.name)
        if info is None:
            raise ConfigError(
                where, f"the model has no input named {spec.name!r}; its inputs: {sorted(onnx)}"
            )
        if info.type != _ONNX_TYPES[spec.dtype]:
            raise ConfigError(
                where,
                f"source {spec.source} needs {_ONNX_TYPES[spec.dtype]}, the model takes {info.type}",
            )
        rank = 1 if spec.width is None else 2
        if len(info.shape) != rank:
            raise ConfigError(
                where,
                f"source {spec.source} needs rank {rank}, the model's shape is {list(info.shape)}",
            )
        if isinstance(info.shape[0], int) and info.shape[0] != -1:
            raise ConfigError(
                where, f"the first axis (pairs) must be dynamic for batching, got {info.shape[0]}"
            )
        if rank == 2 and isinstance(info.shape[1], int) and info.shape[1] != spec.width:
            raise ConfigError(
                where, f"declared width {spec.width} but the model's shape is {list(info.shape)}"
            )
    extra = sorted(set(onnx) - declared)
    if extra:
        raise ConfigError("card.inputs", f"the model's input(s) {extra} are not declared")
    out = {t.name: t for t in outputs}
    info = out.get(declaration.output)
    if info is None:
        raise ConfigError(
            "card.output", f"the model has no output {declaration.output!r}; outputs: {sorted(out)}"
        )
    if info.type != "tensor(float)" or not (
        len(info.shape) == 1 or (len(info.shape) == 2 and info.shape[1] == 1)
    ):
        raise ConfigError(
            "card.output",
            f"{declaration.output!r} must be float32 [pairs] or [pairs, 1], got {info.type} {list(info.shape)}",
        )


@dataclass(frozen=True)
class ModelCard:
    """A registered version: the declaration and everything abgate recorded about it."""

    declaration: Declaration
    sha256: str
    size_bytes: int
    signature: Mapping[str, Any]
    registered_by: str
    registered_at: float
    state: State = "gating"
    gates: Mapping[str, Any] | None = None
    override: Mapping[str, Any] | None = None
    retired: bool = False
    # Earlier gate results, oldest first: each re-gate moves ``gates`` here.
    gates_history: tuple[Mapping[str, Any], ...] = ()

    @property
    def version(self) -> str:
        return self.declaration.version

    @property
    def usable(self) -> bool:
        """May take traffic: gates passed (or an admin overrode a failure), not retired."""
        if self.retired:
            return False
        return self.state == "passed" or (self.state == "failed" and self.override is not None)

    def to_json(self) -> dict[str, Any]:
        return self.declaration.to_json() | {
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "signature": dict(self.signature),
            "registered_by": self.registered_by,
            "registered_at": self.registered_at,
            "state": self.state,
            "gates": None if self.gates is None else dict(self.gates),
            "override": None if self.override is None else dict(self.override),
            "retired": self.retired,
            "usable": self.usable,
            "gates_history": [dict(g) for g in self.gates_history],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelCard:
        declared = {k: data[k] for k in DECLARED_FIELDS if data.get(k) is not None}
        return cls(
            declaration=parse_declaration(declared, f"stored card {data.get('version')!r}"),
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            signature=dict(data.get("signature") or {}),
            registered_by=str(data["registered_by"]),
            registered_at=float(data["registered_at"]),
            state=cast(State, data.get("state", "gating")),
            gates=data.get("gates"),
            override=data.get("override"),
            retired=bool(data.get("retired", False)),
            gates_history=tuple(data.get("gates_history") or ()),
        )


def read_declaration(path: Any) -> Declaration:
    """A card file (``card.json``) as a :class:`Declaration`; errors name the file."""
    import orjson

    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(str(path), f"unreadable card: {exc}") from None
    return parse_declaration(raw, str(path))
