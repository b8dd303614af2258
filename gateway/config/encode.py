"""The JSON form of the routing config stored in Redis; :func:`gateway.config.parse.parse_routing`
reads it back unchanged."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gateway.config.model import (
    BanditSettings,
    Experiment,
    InterleavingSettings,
    RoutingConfig,
    ShadowRequirement,
)
from gateway.config.segments import dimensions_to_list


def _flat(
    settings: ShadowRequirement | BanditSettings | InterleavingSettings | None,
) -> dict[str, Any] | None:
    return None if settings is None else asdict(settings)


def experiment_to_dict(experiment: Experiment) -> dict[str, Any]:
    """Flat: the analysis's fields beside the experiment's own, as in a file."""
    e, a = experiment, experiment.analysis
    return {
        "key": e.key,
        "status": e.status,
        "paused_at": e.paused_at,
        "paused_by": e.paused_by,
        "paused_s": e.paused_s,
        "variants": [
            {"name": v.name, "model_version": v.model_version, "weight": v.weight}
            for v in e.variants
        ],
        "coverage": e.coverage,
        "namespace_range": list(e.namespace_range),
        "hash_version": e.hash_version,
        "seed": e.seed,
        "primary_metric": a.primary_metric,
        "alpha": a.alpha,
        "min_units_per_arm": a.min_units_per_arm,
        "outcome": e.outcome,
        "description": e.description,
        "guardrails": [{"metric": g.metric, "margin": g.margin} for g in a.guardrails],
        "method": a.method,
        "mde": a.mde,
        "horizon_units_per_arm": a.horizon_units_per_arm,
        "looks": a.looks,
        "correction": a.correction,
        "min_runtime_s": a.min_runtime_s,
        "max_runtime_s": a.max_runtime_s,
        "max_error_rate": a.max_error_rate,
        "max_latency_ratio": a.max_latency_ratio,
        "min_ops_requests": a.min_ops_requests,
        "cuped": a.cuped,
        "deterioration": a.deterioration,
        "attribution_window_s": a.attribution_window_s,
        "phases": [
            {"weights": list(p.weights), "started_at": p.started_at} for p in experiment.phases
        ],
        "ramp": [{"coverage": r.coverage, "hold_s": r.hold_s} for r in experiment.ramp],
        "ramp_step": experiment.ramp_step,
        "ramp_step_started_at": experiment.ramp_step_started_at,
        "require_shadow": _flat(experiment.require_shadow),
        "kind": experiment.kind,
        "bandit": _flat(experiment.bandit),
        "period": experiment.period,
        "period_started_at": experiment.period_started_at,
        "interleaving": _flat(experiment.interleaving),
        "dataset": experiment.dataset,
    }


def routing_to_dict(config: RoutingConfig) -> dict[str, Any]:
    return {
        "production": config.production,
        "frozen": config.frozen,
        "namespace_id": config.namespace_id,
        "shadows": [{"version": s.version, "share": s.share} for s in config.shadows],
        "experiments": [experiment_to_dict(e) for e in config.experiments],
        "holdout": None if config.holdout is None else asdict(config.holdout),
        "segments": dimensions_to_list(config.segments),
    }
