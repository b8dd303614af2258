"""The worker's pass over a running interleaved experiment: read its counts, decide, apply.

The pure decision is :func:`gateway.interleave.decide.decide`; this module settles the users
whose searches are over and turns the decision into the evaluation record every experiment
has (the pairs' sign tests in ``interleaving``, each candidate's preference over the control
as an arm, so that the API, CLI, history and chart show it like an A/B result). The worker's
evaluation pass stores and applies it as it does an A/B test's (operational breaches roll it
back first); :func:`confirmation` gives the change that sends a winner on to an A/B test
(``interleaving.then = "ab"``) instead of making it production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from redis.asyncio import Redis

from gateway.config import INTERLEAVED_ARM, Experiment, RoutingConfig
from gateway.control.changes import confirm_with_ab
from gateway.interleave.decide import InterleavingSums, Rules, decide
from gateway.keys import Keys
from gateway.records import (
    ArmResult,
    DecisionRecord,
    Estimate,
    EvaluationRecord,
    InterleavingReport,
    PairReport,
)
from gateway.variant_stats import read_interleaving, read_variant_stats
from gateway.worker.aggregates import SETTLE_LUA

METRIC = "interleaved_preference"


def rules_for(experiment: Experiment) -> Rules:
    settings, a = experiment.interleaving, experiment.analysis
    assert settings is not None
    return Rules(
        alpha=a.alpha,
        min_competitive_share=settings.min_competitive_share,
        min_slots=settings.min_slots,
        min_runtime_s=a.min_runtime_s,
        max_runtime_s=a.max_runtime_s,
    )


def evaluate_interleaving(
    experiment: Experiment,
    sums: InterleavingSums,
    users: int,
    runtime_s: float,
    previous: EvaluationRecord | None = None,
) -> EvaluationRecord:
    """Pure: the evaluation record of one interleaved experiment phase from its counts."""
    names = [v.name for v in experiment.variants]
    carried = (previous.state or {}).get("p", []) if previous else []
    d = decide(sums, names, rules_for(experiment), runtime_s, carried)
    pairs = tuple(
        PairReport(
            names[p.a],
            names[p.b],
            p.counts.positive,
            p.counts.negative,
            p.counts.users,
            p.counts.won,
            p.counts.lost,
            p.preference,
            p.p_value,
            p.p_adjusted,
            p.significant,
        )
        for p in d.pairs
    )
    # Each candidate against the control (pair (0, i)): its preference, positive when users
    # prefer the candidate; no interval (the sign test gives an always-valid p-value).
    arms = tuple(
        ArmResult(
            variant=names[p.b],
            units=p.counts.positive + p.counts.negative,
            relative=False,
            effect=Estimate(-p.preference, None, None, p.p_value),
            p_adjusted=p.p_adjusted,
            p_boundary=None,
            significant=p.significant,
        )
        for p in d.pairs
        if p.a == 0
    )
    return EvaluationRecord(
        experiment=experiment.key,
        phase=experiment.phase,
        ts=time.time(),
        metric=METRIC,
        alpha=experiment.analysis.alpha,
        runtime_s=runtime_s,
        decision=DecisionRecord(
            d.action, None if d.winner is None else names[d.winner], d.reasons, d.blocked_by
        ),
        method="sign-test",
        look=(previous.look if previous else 0) + 1,
        units={INTERLEAVED_ARM: users},
        arms=arms,
        state={"p": [p.p_value for p in d.pairs]},
        interleaving=InterleavingReport(
            searches=sums.searches,
            slots=sums.slots,
            competitive_share=sums.competitive_share,
            order=tuple(names[t] for t in d.order),
            pairs=pairs,
            credited={names[t]: dict(kinds) for t, kinds in sorted((sums.events or {}).items())},
            settled=sums.settled,
        ),
    )


SETTLE_BATCH = 1000


async def settle(redis: Redis, keys: Keys, sid: str, teams: int, settle_s: float) -> int:
    """Count the preferences of every user inactive for ``settle_s`` (per shard, batches of
    1 000, each one atomic script); the number settled."""
    total = 0
    for shard in keys.all_shards:
        while True:
            n = int(await redis.eval(SETTLE_LUA, 1, shard.tag, sid, teams, settle_s, SETTLE_BATCH))
            total += n
            if n < SETTLE_BATCH:
                break
    return total


async def evaluate_interleaved(
    redis: Redis,
    keys: Keys,
    experiment: Experiment,
    runtime_s: float,
    previous: EvaluationRecord | None,
) -> EvaluationRecord:
    """Settle the users whose searches are over, read the counts, evaluate (the caller stores
    and applies the record, as for an A/B test)."""
    sid = experiment.stats_id
    assert experiment.interleaving is not None
    await settle(redis, keys, sid, len(experiment.variants), experiment.interleaving.settle_s)
    sums = await read_interleaving(redis, keys, sid, len(experiment.variants))
    arm = (await read_variant_stats(redis, keys, sid)).get(INTERLEAVED_ARM)
    users = arm.users if arm is not None else 0
    return evaluate_interleaving(experiment, sums, users, runtime_s, previous)


def confirmation(
    experiment: Experiment, record: EvaluationRecord, now: float
) -> tuple[EvaluationRecord, Callable[[RoutingConfig], RoutingConfig] | None]:
    """For a promotion of an interleaved winner with ``then = "ab"``: the record with the
    reason said, and the change that starts its A/B test instead of moving production. Any
    other record comes back as it is, with no change of its own."""
    winner = record.decision.winner
    settings = experiment.interleaving
    if settings is None or settings.then != "ab" or record.decision.action != "promote":
        return record, None
    assert winner is not None
    reasons = (*record.decision.reasons, "the winner goes on to an A/B test")
    key = experiment.key
    return (
        replace(record, decision=replace(record.decision, reasons=reasons)),
        lambda config: confirm_with_ab(config, key, winner, now),
    )
