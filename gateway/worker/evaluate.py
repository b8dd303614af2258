"""Evaluates each running experiment and applies the decision through the audited control plane."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.config import Experiment, RoutingConfig
from gateway.control.changes import conclude
from gateway.control.store import ConfigStore, Keys
from gateway.worker.aggregates import read_variant_stats
from stats.decision import ArmResult, Decision, decide
from stats.sequential import msprt
from stats.srm import srm_check
from stats.sufficient import MeanStats

log = logging.getLogger("abgate.worker")

# The mixing distribution's spread (Johari et al. 2017, section 4.3): an effect of
# about 10% of the control mean is what a ranking change is expected to move.
RELATIVE_EFFECT_SCALE: Final = 0.10


def metric_stats(experiment: Experiment, row: dict[str, float]) -> MeanStats:
    users = int(row.get("users", 0))
    if experiment.primary_metric == "purchase_conversion":
        converters = row.get("converters", 0.0)
        return MeanStats.from_sums(users, converters, converters)
    return MeanStats.from_sums(users, row.get("revenue", 0.0), row.get("revenue_sq", 0.0))


def evaluate(experiment: Experiment, stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Pure: the evaluation record for one experiment (results, SRM, decision)."""
    control = experiment.control
    empty: dict[str, float] = {}
    per_variant = {
        v.name: metric_stats(experiment, stats.get(v.name, empty)) for v in experiment.variants
    }
    base = per_variant[control.name]
    treatments = [v for v in experiment.variants[1:] if v.weight > 0 or per_variant[v.name].n > 0]
    alpha = experiment.alpha / max(1, len(treatments))  # Bonferroni across treatments
    tau2 = (RELATIVE_EFFECT_SCALE * max(abs(base.mean), 1e-3)) ** 2
    arms = [
        ArmResult(v.name, per_variant[v.name].n, msprt(base, per_variant[v.name], alpha, tau2))
        for v in treatments
    ]
    srm = srm_check(
        [per_variant[v.name].n for v in experiment.variants],
        [v.weight for v in experiment.variants],
    )
    decision: Decision = decide(control.name, base.n, arms, srm, experiment.min_units_per_arm)
    return {
        "experiment": experiment.key,
        "ts": time.time(),
        "metric": experiment.primary_metric,
        "alpha": experiment.alpha,
        "units": {name: s.n for name, s in per_variant.items()},
        "means": {name: s.mean for name, s in per_variant.items()},
        "arms": [{"variant": a.variant} | asdict(a.result) for a in arms],
        "srm_p_value": srm.p_value,
        "decision": {
            "action": decision.action,
            "winner": decision.winner,
            "reasons": list(decision.reasons),
        },
    }


async def evaluate_all(redis: Redis, keys: Keys, store: ConfigStore) -> list[dict[str, Any]]:
    """One evaluation pass over every running experiment; applies promotions and rollbacks."""
    _, config = await store.load()
    records = []
    for experiment in config.experiments:
        if experiment.status != "running":
            continue
        record = evaluate(experiment, await read_variant_stats(redis, keys, experiment.key))
        await redis.hset(
            keys.decisions, experiment.key, orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        )
        decision = record["decision"]
        if decision["action"] in ("promote", "rollback"):
            outcome = "promoted" if decision["action"] == "promote" else "rolled_back"
            winner = decision["winner"]

            def apply(
                config: RoutingConfig, key: str = experiment.key, w: str = winner, o: str = outcome
            ) -> RoutingConfig:
                return conclude(config, key, w, o)

            version, _, _ = await store.change(
                apply,
                actor="decision-loop",
                reason="; ".join(decision["reasons"]),
            )
            log.info(
                "experiment %s %s (%s) -> config version %d",
                experiment.key,
                outcome,
                "; ".join(decision["reasons"]),
                version,
            )
            record["applied_version"] = version
        records.append(record)
    return records
