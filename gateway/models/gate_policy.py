"""The gates' thresholds: a runtime policy kept in the store (:mod:`gateway.models.policy_store`),
read when a gate run starts. The ``ABGATE_GATE_*`` settings are only its first default.

Every field is validated here, once; an error names the field, the rule and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final

from gateway.errors import ConfigError
from gateway.models.card import VERSION_RE


@dataclass(frozen=True)
class GatePolicy:
    # Offline quality: NDCG@10 may be at most this far below production's.
    ndcg_margin: float = 0.02
    # Latency, absolute: the p99 of scoring ONE request of ``latency_candidates`` candidates,
    # measured on this deployment's own CPU or GPU, at most this many milliseconds.
    latency_budget_ms: float = 50.0
    latency_candidates: int = 200
    # Latency, relative: that request's p50 at most this many times production's (None: off,
    # so a 300-tree GBDT may replace a 20-tree one while both are well within the budget).
    latency_ratio: float | None = None
    # Timed runs of that request (after a warm-up), interleaved with production's.
    latency_runs: int = 50
    # Consistency: mean overlap@10 with production must lie in [overlap_min, overlap_max].
    overlap_min: float = 0.0
    overlap_max: float = 1.0
    # The deployment's default evaluation dataset (a version's card may name its own).
    dataset: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            rule = RULES[f.name]
            rule.check(f.name, getattr(self, f.name))
        if self.overlap_min > self.overlap_max:
            raise ConfigError(
                "overlap_min",
                f"must be at most overlap_max ({self.overlap_max:g}), got {self.overlap_min:g}",
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatePolicy:
        """A stored or sent policy; fields it lacks keep their defaults."""
        return GatePolicy().changed(data)

    def changed(self, changes: Mapping[str, Any], where: str = "") -> GatePolicy:
        """This policy with ``changes`` applied; an unknown field or a bad value is refused."""
        unknown = sorted(set(changes) - set(RULES))
        if unknown:
            raise ConfigError(
                f"{where}{unknown[0]}", f"unknown field; the policy's fields: {list(RULES)}"
            )
        values = {k: RULES[k].coerce(f"{where}{k}", v) for k, v in changes.items()}
        return replace(self, **values)

    def diff(self, other: GatePolicy) -> list[dict[str, Any]]:
        old, new = self.to_json(), other.to_json()
        return [
            {"path": f"gate_policy.{k}", "old": old[k], "new": new[k]}
            for k in old
            if old[k] != new[k]
        ]


@dataclass(frozen=True)
class Rule:
    kind: type
    lo: float = -math.inf
    hi: float = math.inf
    optional: bool = False

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number" if self.kind is float else ""
        if self.kind is str:
            what = "a dataset id (1-64 letters, digits, '.', '_' or '-')"
        else:
            what += f" in [{self.lo:g}, {self.hi:g}]"
        return what + (" or null" if self.optional else "")

    def check(self, name: str, value: Any) -> None:
        self.coerce(name, value)

    def coerce(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        ok = False
        if self.kind is str:
            ok = isinstance(value, str) and bool(VERSION_RE.match(value))
        elif not isinstance(value, bool) and isinstance(value, int | float):
            ok = math.isfinite(value) and self.lo <= value <= self.hi
            ok = ok and (self.kind is float or float(value).is_integer())
            if ok:
                value = self.kind(value)
        if not ok:
            raise ConfigError(name, f"expected {self.describe()}, got {value!r}")
        return value


RULES: Final[dict[str, Rule]] = {
    "ndcg_margin": Rule(float, 0.0, 1.0),
    "latency_budget_ms": Rule(float, 0.001, 60_000.0),
    "latency_candidates": Rule(int, 1, 10_000),
    "latency_ratio": Rule(float, 1.0, 1000.0, optional=True),
    "latency_runs": Rule(int, 5, 10_000),
    "overlap_min": Rule(float, 0.0, 1.0),
    "overlap_max": Rule(float, 0.0, 1.0),
    "dataset": Rule(str, optional=True),
}


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` words (the CLI's ``gates policy set``) as JSON values: numbers, ``null``
    (or ``none``/``off``) and, for ``dataset``, a bare id."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(pair, "expected key=value")
        if text.lower() in ("null", "none", "off", ""):
            out[key] = None
            continue
        if key == "dataset":
            out[key] = text
            continue
        try:
            out[key] = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            out[key] = text
    return out
