"""The JSON form of the routing config stored in Redis; :func:`gateway.config.parse.parse_routing`
reads it back unchanged."""

from __future__ import annotations

from typing import Any

from gateway.config.model import Experiment, RoutingConfig


def experiment_to_dict(e: Experiment) -> dict[str, Any]:
    return {
        "key": e.key,
        "status": e.status,
        "variants": [
            {"name": v.name, "model_version": v.model_version, "weight": v.weight}
            for v in e.variants
        ],
        "coverage": e.coverage,
        "namespace_range": list(e.namespace_range),
        "hash_version": e.hash_version,
        "seed": e.seed,
        "primary_metric": e.primary_metric,
        "alpha": e.alpha,
        "min_units_per_arm": e.min_units_per_arm,
        "outcome": e.outcome,
        "description": e.description,
        "guardrails": [{"metric": g.metric, "margin": g.margin} for g in e.guardrails],
        "method": e.method,
        "mde": e.mde,
        "horizon_units_per_arm": e.horizon_units_per_arm,
        "looks": e.looks,
        "correction": e.correction,
        "min_runtime_s": e.min_runtime_s,
        "max_runtime_s": e.max_runtime_s,
    }


def routing_to_dict(config: RoutingConfig) -> dict[str, Any]:
    return {
        "production": config.production,
        "frozen": config.frozen,
        "namespace_id": config.namespace_id,
        "experiments": [experiment_to_dict(e) for e in config.experiments],
    }
