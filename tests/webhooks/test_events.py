"""Which audit entries and evaluations become which webhook events."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.control.actors import DECISION_LOOP
from gateway.webhooks.events import (
    ALERT_RULES,
    EVENT_TYPES,
    WebhookEvent,
    audit_events,
    delivery_id,
    new_alerts,
    wants,
)

PROMOTION: dict[str, Any] = {
    "actor": DECISION_LOOP,
    "reason": "treatment wins: lift 4.1% (p=0.001)",
    "ts": 1000.0,
    "version": 7,
    "diff": [
        {"path": "experiments['ranker-q4'].outcome", "old": None, "new": "promoted"},
        {"path": "experiments['ranker-q4'].status", "old": "running", "new": "concluded"},
        {"path": "production", "old": "v1", "new": "v2"},
    ],
}


def test_a_promotion_is_a_decision_and_a_production_move() -> None:
    events = audit_events("1-0", PROMOTION)
    assert [e.type for e in events] == ["decision", "production.moved"]
    decision, moved = events
    assert decision.id == "1-0/decision"
    assert decision.data["experiments"] == ["ranker-q4"]
    assert decision.data["outcome"] == "promoted"
    assert decision.data["status"] == "concluded"
    assert decision.data["reason"] == PROMOTION["reason"]
    assert decision.data["config_version"] == 7
    assert (moved.data["from"], moved.data["to"]) == ("v1", "v2")
    assert moved.ts == 1000.0


def test_a_person_s_changes() -> None:
    start = {
        "actor": "carol",
        "reason": "go",
        "ts": 5.0,
        "version": 3,
        "diff": [{"path": "experiments['a'].status", "old": "draft", "new": "running"}],
    }
    (event,) = audit_events("2-0", start)
    assert event.type == "experiment.changed" and event.data["actor"] == "carol"
    manual = {"actor": "carol", "reason": "hotfix", "ts": 6.0, "version": 4, "diff": [
        {"path": "production", "old": "v2", "new": "v1"},
    ]}  # fmt: skip
    (event,) = audit_events("3-0", manual)
    assert event.type == "production.moved" and event.data["to"] == "v1"


def test_gate_results() -> None:
    entry = {
        "actor": "gates",
        "reason": "gates failed: latency",
        "ts": 9.0,
        "version": None,
        "model": "v3",
        "diff": [{"path": "models['v3'].state", "old": "gating", "new": "failed"}],
    }
    (event,) = audit_events("4-0", entry)
    assert event.type == "gate.result"
    assert event.data["model"] == "v3" and event.data["passed"] is False
    registered = entry | {"diff": [{"path": "models['v3'].state", "old": None, "new": "gating"}]}
    assert audit_events("5-0", registered) == []


def test_entries_of_no_interest_make_no_event() -> None:
    token = {"actor": "admin", "reason": "t", "ts": 1.0, "version": None, "diff": [],
             "token": {"name": "x", "role": "viewer"}}  # fmt: skip
    assert audit_events("6-0", token) == []
    shadow = {"actor": "a", "reason": "r", "ts": 1.0, "version": 2,
              "diff": [{"path": "shadows['v2']", "old": None, "new": {"version": "v2"}}]}  # fmt: skip
    assert audit_events("7-0", shadow) == []


def test_the_body_is_the_event_as_json() -> None:
    event = WebhookEvent("1-0/decision", "decision", 3.5, {"a": [1, 2]})
    assert orjson.loads(event.body()) == {
        "id": "1-0/decision",
        "type": "decision",
        "created_at": 3.5,
        "data": {"a": [1, 2]},
    }


def test_subscriptions_and_delivery_ids() -> None:
    assert wants(["*"], "alert.srm") and wants(["decision"], "decision")
    assert not wants(["decision"], "production.moved")
    assert delivery_id("1-0/decision", "a") == delivery_id("1-0/decision", "a")
    assert delivery_id("1-0/decision", "a") != delivery_id("1-0/decision", "b")
    assert delivery_id("1-0/decision", "a") != delivery_id("2-0/decision", "a")


def _record(look: int, blocked: tuple[str, ...] = (), breached: bool = False) -> dict[str, Any]:
    return {
        "experiment": "e",
        "phase": 1,
        "ts": 100.0 + look,
        "look": look,
        "srm_p_value": 1e-6 if "srm" in blocked else 0.4,
        "units": {"control": 900, "treatment": 1100},
        "decision": {"action": "continue", "reasons": ["waiting"], "blocked_by": list(blocked)},
        "arms": [
            {
                "variant": "treatment",
                "guardrails": [
                    {"metric": "abandonment", "margin": 0.02, "breached": breached, "effect": {}}
                ],
            }
        ],
    }


def test_an_alert_is_sent_when_it_starts_not_while_it_lasts() -> None:
    events, raised = new_alerts("e@1", _record(1), ())
    assert events == [] and raised == []
    events, raised = new_alerts("e@1", _record(2, ("srm",)), raised)
    assert [e.type for e in events] == ["alert.srm"]
    assert events[0].data["srm_p_value"] == 1e-6 and events[0].data["stats_id"] == "e@1"
    again, raised = new_alerts("e@1", _record(3, ("srm",), breached=True), raised)
    assert [e.type for e in again] == ["alert.guardrail"]  # the SRM goes on: not sent again
    assert again[0].data["variant"] == "treatment" and again[0].data["metric"] == "abandonment"
    cleared, raised = new_alerts("e@1", _record(4), raised)
    assert cleared == [] and raised == []
    back, _ = new_alerts("e@1", _record(5, ("srm",)), raised)
    assert [e.type for e in back] == ["alert.srm"]  # raised again after it cleared
    assert back[0].id != events[0].id


def test_operational_breaches_are_guardrail_alerts() -> None:
    record = _record(1) | {
        "decision": {"action": "rollback", "reasons": ["operational guardrail: error rate 9%"]}
    }
    events, _ = new_alerts("e", record, ())
    assert [e.data["alert"] for e in events] == ["operational"]


def test_every_alert_type_is_an_event_type() -> None:
    assert set(ALERT_RULES) <= set(EVENT_TYPES)


def test_an_approval_s_steps_and_nothing_else_for_its_note() -> None:
    held = {
        "actor": "alice",
        "reason": "held for approval: production -> cand-v2: hotfix",
        "ts": 8.0,
        "version": None,
        "diff": [],
        "approval": {
            "id": "a1",
            "event": "requested",
            "requested_by": "alice",
            "concerns": ["production", "experiment:ranker-q4"],
        },
    }
    (event,) = audit_events("8-0", held)  # no experiment change, no production move
    assert event.type == "approval" and event.id == "8-0/approval/a1"
    assert event.data["approval"]["event"] == "requested"
    assert "experiment:ranker-q4" in event.data["subjects"]


def test_the_evaluation_s_own_alerts_by_kind() -> None:
    mobile = {"kind": "segment", "level": "strong", "message": "treatment loses on mobile",
              "p_value": 1e-4, "variant": "treatment", "metric": "purchase_conversion",
              "dimension": "device", "value": "mobile", "blocks": False}  # fmt: skip
    silent = {"kind": "event_health", "level": "strong", "message": "no events from treatment",
              "variant": "treatment", "blocks": True}  # fmt: skip
    record = _record(1) | {"alerts": [mobile, silent]}
    events, raised = new_alerts("e", record, ())
    by_type = {e.type: e.data for e in events}
    assert set(by_type) == {"alert.segment", "alert.health"}
    assert by_type["alert.segment"]["dimension"] == "device"
    assert by_type["alert.segment"]["value"] == "mobile"
    assert by_type["alert.segment"]["message"] == "treatment loses on mobile"
    assert by_type["alert.health"]["blocks"] is True
    tablet = mobile | {"value": "tablet"}
    again, _ = new_alerts("e", _record(2) | {"alerts": [mobile, silent, tablet]}, raised)
    assert [e.data["value"] for e in again] == ["tablet"]  # only the new segment
