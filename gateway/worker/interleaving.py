"""The worker's pass over a running interleaved experiment: read its counts, decide, apply.

The pure decision is :func:`gateway.interleave.decide.decide`; this module turns it into the
evaluation record every experiment has (the pairs' sign tests in ``interleaving``, each
candidate's preference over the control as an arm, so that the API, CLI, history and chart
show it like an A/B result) and applies it through the control plane: a winner becomes
production or goes on to an A/B test (``interleaving.then``), the control winning rolls the
others back, rankers that agree on nearly every slot stop it inconclusive. Operational
breaches (a version failing or slow) roll it back first, as for an A/B test.
"""

from __future__ import annotations

import time
from dataclasses import replace

from redis.asyncio import Redis

from gateway.config import INTERLEAVED_ARM, Experiment
from gateway.control.changes import confirm_with_ab
from gateway.control.store import ConfigStore
from gateway.evaluations import store_evaluation
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
from gateway.worker.conclusion import apply_conclusion

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
    """Count the preferences of every user inactive for ``settle_s`` (batches of 1 000, each
    one atomic script); the number settled."""
    total = 0
    while True:
        n = int(await redis.eval(SETTLE_LUA, 0, keys.prefix, sid, teams, settle_s, SETTLE_BATCH))
        total += n
        if n < SETTLE_BATCH:
            return total


async def run_interleaving(
    redis: Redis,
    keys: Keys,
    store: ConfigStore,
    experiment: Experiment,
    started: float,
    now: float,
    previous: EvaluationRecord | None,
    breached: list[str],
) -> tuple[EvaluationRecord, bool]:
    """Evaluate, store and apply; (the record, whether it concluded the experiment)."""
    sid = experiment.stats_id
    assert experiment.interleaving is not None
    await settle(redis, keys, sid, len(experiment.variants), experiment.interleaving.settle_s)
    sums = await read_interleaving(redis, keys, sid, len(experiment.variants))
    stats = await read_variant_stats(redis, keys, sid)
    users = stats.get(INTERLEAVED_ARM, {}).get("users", 0)
    record = evaluate_interleaving(experiment, sums, users, max(0.0, now - started), previous)
    if breached:
        record = record.rolled_back(experiment.control.name, breached)
    await store_evaluation(redis, keys, sid, experiment.key, record)
    settings = experiment.interleaving
    winner = record.decision.winner
    if (
        settings is not None
        and settings.then == "ab"
        and record.decision.action == "promote"
        and winner is not None
    ):
        key = experiment.key
        return await apply_conclusion(
            store,
            experiment,
            replace(
                record,
                decision=replace(
                    record.decision,
                    reasons=(*record.decision.reasons, "the winner goes on to an A/B test"),
                ),
            ),
            promotion=lambda config: confirm_with_ab(config, key, winner, now),
        )
    return await apply_conclusion(store, experiment, record)
