"""What a webhook is sent (pure): events read from the audit trail and from evaluations.

Each event type is one entry of :data:`EventType`; an endpoint subscribes to some of them or to
``"*"``. Audit entries become events by :func:`audit_events`; evaluations raise alerts by the
rules of :data:`ALERT_RULES` (one entry per alert type: a new alert is one line there and one
in :data:`EventType`). An alert is sent when it starts (it was not raised by the phase's
previous evaluation), not at every evaluation while it lasts.

An event's id is derived from what it was read from (the audit entry's stream id, the
evaluation's phase and look), so reading the same entry twice after a restart makes the same
deliveries, which the store de-duplicates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import orjson

from gateway.control.actors import DECISION_LOOP
from gateway.control.audit import subjects

EventType = Literal[
    "decision",  # the decision loop concluded an experiment, stopped arms or ramped it
    "production.moved",  # production changed, by anyone
    "gate.result",  # a model version's gates passed or failed
    "experiment.changed",  # a person changed an experiment (created, started, stopped, ...)
    "alert.srm",  # an evaluation found a sample ratio mismatch
    "alert.guardrail",  # an evaluation found a guardrail (statistical or operational) breached
    "alert.segment",  # a segment's lift differs from the rest, or its arms' ratio is off
    "alert.health",  # the arms differed before exposure, or an arm's events stopped coming
    "approval",  # a change held for a second admin was requested, approved, rejected or expired
]
EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)
EVERY: Final = "*"

_MODEL_STATE: Final = re.compile(r"^models\[(?P<version>'[^']*'|\"[^\"]*\")\]\.state$")
_GATE_STATES: Final = ("passed", "failed")


@dataclass(frozen=True)
class WebhookEvent:
    id: str  # the same for every endpoint and every attempt
    type: EventType
    ts: float  # when it happened (the audit entry's or the evaluation's time)
    data: dict[str, Any]

    def body(self) -> bytes:
        """The JSON an endpoint receives (signed as these exact bytes)."""
        return orjson.dumps(
            {"id": self.id, "type": self.type, "created_at": self.ts, "data": self.data},
            option=orjson.OPT_SERIALIZE_NUMPY,
        )


def wants(events: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``events`` receives ``event_type``."""
    return EVERY in events or event_type in events


def delivery_id(event_id: str, endpoint: str) -> str:
    """One event's delivery to one endpoint: the same on every attempt and every re-read, so a
    receiver de-duplicates by it (``X-Abgate-Delivery``)."""
    return hashlib.sha256(f"{event_id}\n{endpoint}".encode()).hexdigest()[:32]


# --- the audit trail


def audit_events(entry_id: str, entry: Mapping[str, Any]) -> list[WebhookEvent]:
    """The events one audit entry makes: a decision or an experiment change, a production
    move, gate results, an approval's step; none for the rest (tokens, refusals, datasets,
    shadows, ...)."""
    diff = [c for c in entry.get("diff") or () if isinstance(c, Mapping)]
    entry_subjects = subjects(entry)
    ts = float(entry.get("ts") or 0.0)
    actor = str(entry.get("actor", ""))
    common = {
        "audit_id": entry_id,
        "actor": actor,
        "reason": entry.get("reason"),
        "config_version": entry.get("version"),
        "subjects": entry_subjects,
    }
    events: list[WebhookEvent] = []
    # The experiments the change itself touched (a note that only concerns one, such as a
    # request held for approval, changed nothing).
    changed = subjects({"diff": diff})
    experiments = [s.split(":", 1)[1] for s in changed if s.startswith("experiment:")]
    if experiments:
        kind: EventType = "decision" if actor == DECISION_LOOP else "experiment.changed"
        changes = [c for c in diff if str(c.get("path", "")).startswith("experiments")]
        data = common | {"experiments": experiments, "changes": changes}
        if kind == "decision":
            data |= _decision_summary(changes)
        events.append(WebhookEvent(f"{entry_id}/{kind}", kind, ts, data))
    for change in diff:
        if change.get("path") == "production":
            data = common | {"from": change.get("old"), "to": change.get("new")}
            events.append(
                WebhookEvent(f"{entry_id}/production.moved", "production.moved", ts, data)
            )
    for change in diff:
        match = _MODEL_STATE.match(str(change.get("path", "")))
        if match and change.get("new") in _GATE_STATES:
            version = match["version"][1:-1]
            data = common | {"model": version, "passed": change["new"] == "passed"}
            events.append(
                WebhookEvent(f"{entry_id}/gate.result/{version}", "gate.result", ts, data)
            )
    approval = entry.get("approval")
    if isinstance(approval, Mapping) and approval.get("id"):
        data = common | {"approval": dict(approval)}
        event_id = f"{entry_id}/approval/{approval['id']}"
        events.append(WebhookEvent(event_id, "approval", ts, data))
    return events


def _decision_summary(changes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The outcome and status an automated change gave its experiment, where it set them."""
    out: dict[str, Any] = {}
    for change in changes:
        path = str(change.get("path", ""))
        for field in ("outcome", "status", "winner"):
            if path.endswith(f"].{field}"):
                out[field] = change.get("new")
    return out


# --- alerts from evaluations

# An alert rule: an evaluation record (its JSON) -> the alerts it raises, each by a key that
# stays the same while the alert lasts, with what a receiver is told about it.
AlertRule = Callable[[Mapping[str, Any]], dict[str, dict[str, Any]]]


def srm_alerts(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A sample ratio mismatch: the worker held the decision back for it."""
    decision = record.get("decision") or {}
    if "srm" not in (decision.get("blocked_by") or ()):
        return {}
    return {"srm": {"srm_p_value": record.get("srm_p_value"), "units": record.get("units")}}


def guardrail_alerts(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each breached guardrail of each arm, and the operational breaches a rollback names."""
    out: dict[str, dict[str, Any]] = {}
    for arm in record.get("arms") or ():
        for guardrail in arm.get("guardrails") or ():
            if guardrail.get("breached"):
                variant, metric = arm.get("variant"), guardrail.get("metric")
                out[f"{variant}:{metric}"] = {
                    "variant": variant,
                    "metric": metric,
                    "margin": guardrail.get("margin"),
                    "effect": guardrail.get("effect"),
                }
    reasons = (record.get("decision") or {}).get("reasons") or ()
    operational = [r for r in reasons if str(r).startswith("operational guardrail:")]
    if operational:
        out["operational"] = {"reasons": operational}
    return out


def result_alerts(*kinds: str) -> AlertRule:
    """The evaluation's own alerts (its ``alerts``: gateway.results.Alert) of these kinds,
    each by what it is about (kind, arm, metric, segment)."""

    def rule(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for alert in record.get("alerts") or ():
            if isinstance(alert, Mapping) and alert.get("kind") in kinds:
                about = ("kind", "variant", "metric", "dimension", "value")
                out[":".join(str(alert.get(f) or "") for f in about)] = dict(alert)
        return out

    return rule


ALERT_RULES: Final[dict[EventType, AlertRule]] = {
    "alert.srm": srm_alerts,
    "alert.guardrail": guardrail_alerts,
    "alert.segment": result_alerts("segment", "segment_srm"),
    "alert.health": result_alerts("pre_exposure_bias", "event_health"),
}


def alert_keys(record: Mapping[str, Any]) -> dict[str, tuple[EventType, dict[str, Any]]]:
    """Every alert an evaluation raises, by ``"<type>|<key>"``."""
    return {
        f"{kind}|{key}": (kind, details)
        for kind, rule in ALERT_RULES.items()
        for key, details in rule(record).items()
    }


def new_alerts(
    stats_id: str, record: Mapping[str, Any], before: Iterable[str]
) -> tuple[list[WebhookEvent], list[str]]:
    """(the alerts this evaluation starts, every alert it raises): an alert the phase's
    previous evaluation already raised (in ``before``) is not sent again."""
    raised = alert_keys(record)
    seen = set(before)
    ts = float(record.get("ts") or 0.0)
    decision = record.get("decision") or {}
    common = {
        "experiment": record.get("experiment"),
        "phase": record.get("phase", 0),
        "stats_id": stats_id,
        "look": record.get("look"),
        "decision": {"action": decision.get("action"), "reasons": decision.get("reasons")},
    }
    events = [
        WebhookEvent(
            f"alert/{stats_id}/{key}/{record.get('look', 0)}:{ts:.3f}",
            kind,
            ts,
            common | {"alert": key.split("|", 1)[1]} | details,
        )
        for key, (kind, details) in raised.items()
        if key not in seen
    ]
    return events, sorted(raised)
