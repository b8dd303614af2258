"""Applying a decision through the control plane, one audited change by the decision loop: a
concluding one (promote, roll back, stop inconclusive), for A/B tests and bandits alike, and
stopping some arms of an A/B test while the others go on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from gateway.config import Experiment, Outcome, RoutingConfig
from gateway.control.actors import DECISION_LOOP
from gateway.control.approval_store import ApprovalStore, new_id
from gateway.control.approvals import ApprovalRequest, rule_for
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
    if promotion is None:
        record = await held_for_approval(store, experiment, record)
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


def _open_field(experiment: Experiment) -> str:
    return f"decision.promote:{experiment.key}"


async def held_for_approval(
    store: ConfigStore, experiment: Experiment, record: EvaluationRecord
) -> EvaluationRecord:
    """A promotion the approval policy holds (``decision_loop``): the record, its decision
    turned to "continue", blocked by "approval", its reasons saying which request waits. The
    request is asked for once (a later evaluation finds it pending); a rejected one is not
    asked again in the same phase. Any other record comes back as it is.

    An interleaved winner going on to an A/B test (no production move) is not held."""
    decision = record.decision
    interleaving = experiment.interleaving
    if decision.action != "promote" or decision.winner is None:
        return record
    if interleaving is not None and interleaving.then == "ab":
        return record
    approvals = ApprovalStore(store.redis, store.keys)
    policy = await approvals.policy()
    rule = rule_for(policy, "decision.promote")
    if rule is None:
        return record
    winner, key, phase = decision.winner, experiment.key, experiment.phase
    version = experiment.variant(winner).model_version
    latest = await approvals.latest_open(_open_field(experiment))
    if (
        latest is not None
        and latest.status == "rejected"
        and latest.params.get("phase") == phase
        and latest.params.get("winner") == winner
    ):
        said = (
            f"the promotion of {winner} was rejected (approval {latest.id}, by "
            f"{latest.decided_by}: {latest.decision_reason}); the experiment runs on until a "
            "person concludes it"
        )
    else:
        now, (_, config) = time.time(), await store.load()
        asked = await approvals.ask(
            ApprovalRequest(
                id=new_id(),
                change="decision.promote",
                target=key,
                params={"key": key, "winner": winner, "phase": phase},
                summary=f"promote {winner} ({version}) of experiment {key!r} to production",
                diff=[{"path": "production", "old": config.production, "new": version}],
                rule=rule,
                subjects=[f"experiment:{key}", "production"],
                requested_by=DECISION_LOOP,
                reason="; ".join(decision.reasons),
                requested_at=now,
                expires_at=now + policy.expires_after_s,
            ),
            _open_field(experiment),
        )
        said = (
            f"the promotion of {winner} awaits an admin's approval (approval {asked.id}, "
            f"{rule}); the experiment runs on meanwhile"
        )
    held = replace(
        decision,
        action="continue",
        reasons=(*decision.reasons, said),
        blocked_by=(*decision.blocked_by, "approval"),
    )
    return replace(record, decision=held)


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
