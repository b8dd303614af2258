"""Applying a decision through the control plane, one audited change by the decision loop: a
concluding one (promote, roll back, stop inconclusive), for A/B tests and bandits alike, and
stopping some arms of an A/B test while the others go on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from gateway.config import Experiment, Outcome, RoutingConfig
from gateway.control.actors import DECISION_LOOP
from gateway.control.changes import conclude, stop_arms
from gateway.control.store import ConfigStore
from gateway.errors import Conflict
from gateway.records import EvaluationRecord

log = logging.getLogger("abgate.worker")

OUTCOMES: Final[dict[str, Outcome]] = {
    "promote": "promoted",
    "rollback": "rolled_back",
    "stop-inconclusive": "inconclusive",
}


async def apply_conclusion(
    store: ConfigStore,
    experiment: Experiment,
    record: EvaluationRecord,
    promotion: Callable[[RoutingConfig], RoutingConfig] | None = None,
) -> tuple[EvaluationRecord, bool]:
    """(the record, with the config version it applied; whether its decision concludes).

    ``promotion`` replaces the promotion's change (an interleaved winner's A/B test). A change
    refused meanwhile (the experiment stopped or frozen by a person since this pass began)
    leaves the record unapplied."""
    decision = record.decision
    outcome = OUTCOMES.get(decision.action)
    if outcome is None:
        return record, False
    key, reason = experiment.key, "; ".join(decision.reasons)

    def change(config: RoutingConfig, o: Outcome = outcome) -> RoutingConfig:
        if o == "promoted" and promotion is not None:
            return promotion(config)
        return conclude(config, key, decision.winner, o)

    try:
        version, _, _ = await store.change(change, actor=DECISION_LOOP, reason=reason)
    except Conflict as exc:
        log.info("decision on %s not applied: %s", key, exc)
        return record, True
    log.info("experiment %s %s (%s) -> config version %d", key, outcome, reason, version)
    return replace(record, applied_version=version), True


async def apply_arm_stops(
    store: ConfigStore, experiment: Experiment, record: EvaluationRecord, now: float
) -> EvaluationRecord:
    """The record, with the config version that stopped the arms its "stop-arms" decision
    names: their weight goes to the control, in a new phase. A change refused meanwhile (the
    experiment moved to another phase, or was stopped or frozen) leaves it unapplied."""
    arms, key, phase = record.decision.stopped, experiment.key, experiment.phase
    reason = "; ".join(record.decision.reasons)
    try:
        version, _, _ = await store.change(
            lambda config: stop_arms(config, key, phase, arms, now),
            actor=DECISION_LOOP,
            reason=reason,
        )
    except Conflict as exc:
        log.info("arms %s of %s not stopped: %s", list(arms), key, exc)
        return record
    log.info("experiment %s: %s stopped (%s) -> config version %d", key, arms, reason, version)
    return replace(record, applied_version=version)
