"""The worker's pass over a running bandit: read every period, decide, re-weight or conclude.

The pure decision is :func:`gateway.bandit.decide.decide`; this module reads the
per-period sums, records each period's weights (for SRM: the weights actually in
force), and applies the decision through the control plane (atomic, audited,
propagated like every change). The evaluation is stored under the experiment's key.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.bandit.decide import BanditRules, decide
from gateway.bandit.periods import Period, period_srm, weighted_rewards
from gateway.catalogue.metrics import BY_NAME as METRICS_BY_NAME
from gateway.catalogue.metrics import estimate
from gateway.catalogue.quantities import USERS
from gateway.catalogue.sums import EMPTY, VariantSums
from gateway.config import Experiment, phase_stats_id
from gateway.control.actors import DECISION_LOOP
from gateway.control.changes import rebalance
from gateway.control.store import ConfigStore
from gateway.errors import Conflict
from gateway.evaluations import store_evaluation
from gateway.keys import Keys
from gateway.records import ArmOpsRecord, DecisionRecord, EvaluationRecord
from gateway.variant_stats import read_variant_stats
from gateway.worker.conclusion import apply_conclusion
from stats.effects import ArmEstimate
from stats.srm import SRM_P_THRESHOLD

log = logging.getLogger("abgate.worker")


# A bandit's reward: the catalogue metric it is (gateway.catalogue.metrics).
REWARD_METRIC: Final = {
    "purchase_conversion": "purchase_conversion",
    "click": "click_through_rate",
    "revenue_per_search": "revenue_per_search",
}


def reward_estimate(reward: str, row: Mapping[str, int]) -> ArmEstimate:
    """One arm's reward from its integer sums (per user; ratios by the delta method)."""
    if int(row.get(USERS, 0)) == 0:
        return ArmEstimate(0, float("nan"), float("inf"))
    return estimate(METRICS_BY_NAME[REWARD_METRIC[reward]], row)


def rules_for(experiment: Experiment) -> BanditRules:
    b, a = experiment.bandit, experiment.analysis
    assert b is not None
    return BanditRules(
        policy=b.policy,
        floor=b.floor,
        burn_in_units=b.burn_in_units,
        update_every_s=b.update_every_s,
        stop_probability=b.stop_probability,
        min_units=a.min_units_per_arm,
        min_runtime_s=a.min_runtime_s,
        max_runtime_s=a.max_runtime_s,
    )


async def read_periods(
    redis: Redis, keys: Keys, experiment: Experiment
) -> list[tuple[tuple[float, ...] | None, dict[str, VariantSums]]]:
    """Every period's weights (as recorded) and per-variant sums, oldest first."""
    key = experiment.key
    current = orjson.dumps([v.weight for v in experiment.variants])
    await redis.hsetnx(keys.bandit_periods(key), str(experiment.period), current)
    recorded: dict[Any, Any] = await redis.hgetall(keys.bandit_periods(key))
    weights = {int(k): tuple(float(w) for w in orjson.loads(v)) for k, v in recorded.items()}
    out = []
    for p in range(experiment.period + 1):
        stats = await read_variant_stats(redis, keys, phase_stats_id(key, p))
        out.append((weights.get(p), stats))
    return out


PeriodSums = tuple[tuple[float, ...] | None, Mapping[str, Mapping[str, int]]]


def evaluate_bandit(
    experiment: Experiment,
    periods: Sequence[PeriodSums],
    runtime_s: float,
    now: float,
) -> tuple[EvaluationRecord, tuple[float, ...] | None]:
    """Pure: the evaluation record and, when it is time, the next period's weights."""
    assert experiment.bandit is not None
    reward = experiment.bandit.reward
    names = [v.name for v in experiment.variants]
    parsed = [
        Period(w, tuple(reward_estimate(reward, stats.get(n, EMPTY)) for n in names))
        for w, stats in periods
    ]
    pooled_rows = [
        sum((VariantSums(stats.get(n, EMPTY)) for _, stats in periods), EMPTY) for n in names
    ]
    pooled = [reward_estimate(reward, row) for row in pooled_rows]
    rewards = weighted_rewards(parsed, pooled)
    srm = period_srm(parsed)
    since = now - experiment.period_started_at if experiment.period_started_at else runtime_s
    decision = decide(
        rules_for(experiment),
        names,
        [v.weight for v in experiment.variants],
        rewards,
        runtime_s=runtime_s,
        since_update_s=since,
        srm_p=srm.p_value,
        srm_mismatch=srm.p_value < SRM_P_THRESHOLD,
        seed=zlib.crc32(f"{experiment.key}:{experiment.period}".encode()),
    )
    record = EvaluationRecord(
        experiment=experiment.key,
        phase=experiment.period,
        ts=now,
        metric=reward,
        alpha=1 - experiment.bandit.stop_probability,
        runtime_s=runtime_s,
        method=f"bandit:{experiment.bandit.policy}",
        units={n: int(row["users"]) for n, row in zip(names, pooled_rows, strict=True)},
        means={n: r.mean for n, r in zip(names, rewards, strict=True) if r.n > 0},
        srm_p_value=srm.p_value,
        decision=DecisionRecord(
            decision.action,
            None if decision.winner is None else names[decision.winner],
            decision.reasons,
            decision.blocked_by,
        ),
        state={
            "period": experiment.period,
            "periods_checked_for_srm": srm.checked,
            "p_best": dict(zip(names, decision.p_best, strict=True)),
            "weights": {v.name: v.weight for v in experiment.variants},
            "policy_shares": None
            if decision.policy_shares is None
            else dict(zip(names, decision.policy_shares, strict=True)),
            "reward_sd": {
                n: r.variance**0.5 for n, r in zip(names, rewards, strict=True) if r.n > 0
            },
        },
    )
    return record, decision.weights


async def run_bandit(
    redis: Redis,
    keys: Keys,
    store: ConfigStore,
    experiment: Experiment,
    started: float,
    now: float,
    breached: list[str],
    ops: tuple[ArmOpsRecord, ...] = (),
) -> EvaluationRecord:
    """One pass over one running bandit; applies what it decides. ``started`` is a reading of
    its active clock (:meth:`Experiment.active_clock`): paused time is not runtime; ``ops``
    are the arms' operational figures, ``breached`` the operational breaches among them."""
    periods = await read_periods(redis, keys, experiment)
    runtime_s = max(0.0, experiment.active_clock(now) - started)
    record, weights = evaluate_bandit(experiment, periods, runtime_s, now)
    record = replace(record, ops=ops)
    if breached:
        record, weights = record.rolled_back(experiment.control.name, breached), None
    record, concluded = await apply_conclusion(store, experiment, record)
    key, period = experiment.key, experiment.period
    if not concluded and weights is not None:
        w = weights
        shown = ", ".join(f"{v.name}={x:.3f}" for v, x in zip(experiment.variants, w, strict=True))
        why = f"bandit period {period + 1}: weights {shown} ({'; '.join(record.decision.reasons)})"
        try:
            version, _, _ = await store.change(
                lambda config: rebalance(config, key, period, w, now),
                actor=DECISION_LOOP,
                reason=why,
            )
        except Conflict as exc:  # stopped, frozen or re-weighted since this pass began
            log.info("bandit %s not re-weighted: %s", key, exc)
        else:
            await redis.hset(keys.bandit_periods(key), str(period + 1), orjson.dumps(list(w)))
            record = replace(record, applied_version=version)
            log.info("bandit %s: %s -> config version %d", key, why, version)
    await store_evaluation(redis, keys, key, key, record)
    return record
