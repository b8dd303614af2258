"""Experiment configuration: the model, its parsing (typed, frozen, validated once, errors
that name the field) and its stored JSON form."""

from gateway.config.encode import experiment_to_dict, routing_to_dict
from gateway.config.model import (
    WEIGHT_SUM_TOLERANCE,
    Analysis,
    BanditSettings,
    Correction,
    Experiment,
    Guardrail,
    InterleavingSettings,
    Metric,
    Outcome,
    Phase,
    RampStep,
    RoutingConfig,
    SequentialMethod,
    Shadow,
    ShadowRequirement,
    Status,
    Variant,
    phase_stats_id,
)
from gateway.config.parse import (
    KEY_RE,
    load_routing_file,
    parse_experiment,
    parse_routing,
    validate_routing,
)

__all__ = [
    "KEY_RE",
    "WEIGHT_SUM_TOLERANCE",
    "Analysis",
    "BanditSettings",
    "Correction",
    "Experiment",
    "Guardrail",
    "InterleavingSettings",
    "Metric",
    "Outcome",
    "Phase",
    "RampStep",
    "RoutingConfig",
    "SequentialMethod",
    "Shadow",
    "ShadowRequirement",
    "Status",
    "Variant",
    "experiment_to_dict",
    "load_routing_file",
    "parse_experiment",
    "parse_routing",
    "phase_stats_id",
    "routing_to_dict",
    "validate_routing",
]
