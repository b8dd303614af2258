"""Evaluates each running experiment with the stats engine and applies its decision.

The pure part (:func:`evaluate`) turns the integer sums Redis keeps into
per-arm estimates, builds the analysis plan from the experiment's config and
runs :func:`stats.analysis.analyse`. Two values carry over between
evaluations in the stored record, so that the tests stay valid:

- ``look``: group-sequential looks already taken (a look is acted on once);
- ``tuning_units``: N* for the always-valid tests when no horizon is planned,
  fixed the first time every arm has ``min_units_per_arm`` units, from the
  control's coefficient of variation and the experiment's minimum detectable
  effect (a power calculation), and never changed afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.config import Experiment, RoutingConfig
from gateway.control.actors import DECISION_LOOP
from gateway.control.changes import conclude
from gateway.control.store import ConfigStore, Keys
from gateway.worker.aggregates import read_variant_stats
from stats.analysis import AnalysisPlan, ArmData, Method, analyse
from stats.decision import PolicySettings
from stats.effects import ArmEstimate, mean_estimate, ratio_estimate
from stats.inference import Inference
from stats.planning import units_per_arm
from stats.sufficient import MeanStats, PairStats

log = logging.getLogger("abgate.worker")

OUTCOMES: Final = {
    "promote": "promoted",
    "rollback": "rolled_back",
    "stop-inconclusive": "inconclusive",
}


def arm_metrics(row: Mapping[str, int]) -> dict[str, ArmEstimate]:
    """Every metric's estimate for one arm from its integer sums."""
    users = int(row.get("users", 0))
    converters = int(row.get("converters", 0))
    conversion = mean_estimate(MeanStats.from_int_sums(users, converters, converters))
    cents = mean_estimate(
        MeanStats.from_int_sums(
            users, int(row.get("revenue_cents", 0)), int(row.get("revenue_cents_sq", 0))
        )
    )
    revenue = ArmEstimate(cents.n, cents.mean / 100, cents.variance / 10_000)
    ctr = ratio_estimate(
        PairStats.from_int_sums(
            users,
            int(row.get("clicks", 0)),
            int(row.get("searches", 0)),
            int(row.get("clicks_sq", 0)),
            int(row.get("searches_sq", 0)),
            int(row.get("clicks_x_searches", 0)),
        )
    )
    return {
        "purchase_conversion": conversion,
        "revenue_per_user": revenue,
        "click_through_rate": ctr,
    }


def planned_tuning(experiment: Experiment, control: ArmEstimate) -> float | None:
    """N* (total units) from a power calculation on the control, once it has enough units."""
    if experiment.horizon_units_per_arm:
        return 2.0 * experiment.horizon_units_per_arm
    if control.n < experiment.min_units_per_arm or control.mean == 0:
        return None
    cv2 = control.variance * control.n / control.mean**2
    if not cv2 > 0:
        return None
    return 2.0 * units_per_arm(cv2, experiment.mde, experiment.alpha)


def plan_for(experiment: Experiment, tuning_units: float) -> AnalysisPlan:
    method: Method
    if experiment.method == "auto":
        method = "group-sequential" if experiment.horizon_units_per_arm else "confidence-sequence"
    else:
        method = experiment.method
    return AnalysisPlan(
        primary_metric=experiment.primary_metric,
        alpha=experiment.alpha,
        method=method,
        tuning_units=tuning_units,
        correction=experiment.correction,
        guardrails=tuple((g.metric, g.margin) for g in experiment.guardrails),
        horizon_units_per_arm=experiment.horizon_units_per_arm,
        looks=experiment.looks,
    )


def _inference(i: Inference) -> dict[str, Any]:
    return {"estimate": i.estimate, "ci_low": i.ci_low, "ci_high": i.ci_high, "p_value": i.p_value}


def evaluate(
    experiment: Experiment,
    stats: Mapping[str, Mapping[str, int]],
    runtime_s: float,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Pure: the evaluation record for one experiment (results, SRM, decision)."""
    previous = previous or {}
    empty: dict[str, int] = {}
    arms = [
        ArmData(v.name, v.weight, arm_metrics(stats.get(v.name, empty)))
        for v in experiment.variants
    ]
    control = arms[0].metrics[experiment.primary_metric]
    tuning = previous.get("tuning_units") or planned_tuning(experiment, control)
    base: dict[str, Any] = {
        "experiment": experiment.key,
        "ts": time.time(),
        "metric": experiment.primary_metric,
        "alpha": experiment.alpha,
        "runtime_s": runtime_s,
        "units": {a.variant: a.metrics[experiment.primary_metric].n for a in arms},
        "means": {a.variant: a.metrics[experiment.primary_metric].mean for a in arms},
    }
    if tuning is None:
        reason = f"fewer than {experiment.min_units_per_arm} units in {experiment.control.name}"
        return base | {
            "method": None,
            "look": 0,
            "tuning_units": None,
            "arms": [],
            "srm_p_value": 1.0,
            "decision": {"action": "continue", "winner": None, "reasons": [reason]},
        }
    plan = plan_for(experiment, tuning)
    settings = PolicySettings(
        experiment.alpha,
        experiment.min_units_per_arm,
        experiment.min_runtime_s,
        experiment.max_runtime_s,
    )
    analysis = analyse(arms, plan, settings, runtime_s, int(previous.get("look", 0)))
    return base | {
        "method": plan.method,
        "look": analysis.look,
        "tuning_units": tuning,
        "arms": [
            {
                "variant": a.variant,
                "units": a.units,
                "relative_lift": a.primary.estimate,
                **_inference(a.primary),
                "p_adjusted": a.p_adjusted,
                "significant": a.significant,
                "guardrails": [
                    {"metric": g.metric, "margin": g.margin, "breached": g.breached}
                    | _inference(g.inference)
                    for g in a.guardrails
                ],
            }
            for a in analysis.arms
        ],
        "srm_p_value": analysis.srm.p_value,
        "decision": {
            "action": analysis.decision.action,
            "winner": analysis.decision.winner,
            "reasons": list(analysis.decision.reasons),
        },
    }


async def _previous(redis: Redis, keys: Keys, key: str) -> dict[str, Any] | None:
    raw = await redis.hget(keys.decisions, key)
    return orjson.loads(raw) if raw else None


async def evaluate_all(redis: Redis, keys: Keys, store: ConfigStore) -> list[dict[str, Any]]:
    """One evaluation pass over every running experiment; applies its decisions."""
    _, config = await store.load()
    records = []
    now = time.time()
    for experiment in config.experiments:
        if experiment.status != "running":
            continue
        await redis.hsetnx(keys.started, experiment.key, repr(now))
        started = float(await redis.hget(keys.started, experiment.key) or now)
        record = evaluate(
            experiment,
            await read_variant_stats(redis, keys, experiment.key),
            max(0.0, now - started),
            await _previous(redis, keys, experiment.key),
        )
        await redis.hset(
            keys.decisions, experiment.key, orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        )
        decision = record["decision"]
        if decision["action"] in OUTCOMES:
            outcome = OUTCOMES[decision["action"]]
            winner = decision["winner"]

            def apply(
                config: RoutingConfig, key: str = experiment.key, w: str = winner, o: str = outcome
            ) -> RoutingConfig:
                return conclude(config, key, w, o)

            version, _, _ = await store.change(
                apply, actor=DECISION_LOOP, reason="; ".join(decision["reasons"])
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
