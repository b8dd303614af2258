"""Pure config changes: a patch or a decision applied to a routing config, and the diff it makes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gateway.config import Experiment, RoutingConfig, parse_experiment, routing_to_dict
from gateway.errors import ConfigError, Conflict, NotFound


def patch_experiment(config: RoutingConfig, key: str, patch: Mapping[str, Any]) -> RoutingConfig:
    """Apply an admin patch (``weights`` by variant name, ``coverage``, ``status``) to one experiment.

    The result is re-validated through the same parser as a config file, so a
    patch can never produce a config that a file could not.
    """
    try:
        experiment = config.experiment(key)
    except KeyError:
        raise NotFound(f"experiment {key!r} does not exist") from None
    data = _experiment_dict(config, key)
    if "weights" in patch:
        weights = patch["weights"]
        if not isinstance(weights, dict) or not weights:
            raise ConfigError(
                "weights", f"expected an object of variant name -> weight, got {weights!r}"
            )
        names = [v.name for v in experiment.variants]
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(
                "weights", f"unknown variant(s) {unknown} in {key!r}; variants: {names}"
            )
        missing = sorted(set(names) - set(weights))
        if missing:
            raise ConfigError("weights", f"every variant needs a weight; missing {missing}")
        for variant in data["variants"]:
            variant["weight"] = weights[variant["name"]]
    if experiment.status == "concluded" and patch.get("status", "concluded") != "concluded":
        # Its statistics, decision and audit trail belong to the run that concluded it.
        raise Conflict(
            f"experiment {key!r} is concluded (outcome {experiment.outcome!r}) and cannot run "
            "again; start a new experiment under a new key"
        )
    for name in ("coverage", "status"):
        if name in patch:
            data[name] = patch[name]
    updated = parse_experiment(data, "experiment")  # names the key itself: "experiment 'k'.x"
    return config.with_experiment(updated)


def conclude(config: RoutingConfig, key: str, winner: str, outcome: str) -> RoutingConfig:
    """Send all of an experiment's traffic to ``winner`` and mark it concluded."""
    experiment = config.experiment(key)
    variants = tuple(
        replace(v, weight=1.0 if v.name == winner else 0.0) for v in experiment.variants
    )
    updated: Experiment = replace(
        experiment,
        variants=variants,
        status="concluded",
        outcome=outcome,  # type: ignore[arg-type]
    )
    return config.with_experiment(updated)


def _experiment_dict(config: RoutingConfig, key: str) -> dict[str, Any]:
    for data in routing_to_dict(config)["experiments"]:
        if data["key"] == key:
            return dict(data)
    raise NotFound(f"experiment {key!r} does not exist")


def diff(old: RoutingConfig, new: RoutingConfig) -> list[dict[str, Any]]:
    """Leaf-level differences, each ``{"path", "old", "new"}``, for the audit record."""
    changes: list[dict[str, Any]] = []
    _diff(routing_to_dict(old), routing_to_dict(new), "", changes)
    return changes


def _diff(a: Any, b: Any, path: str, out: list[dict[str, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            key = x.get("key") or x.get("name") if isinstance(x, dict) else None
            _diff(x, y, f"{path}[{key!r}]" if key else f"{path}[{i}]", out)
    elif a != b:
        out.append({"path": path, "old": a, "new": b})
