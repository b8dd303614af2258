"""The approval policy and the held request (pure): which changes a policy holds, when a change
of the policy loosens it, and the request's steps (only another admin approves, once; past its
time it is expired, never approved)."""

from __future__ import annotations

import msgspec
import pytest

from gateway.control.approvals import (
    ApprovalPolicy,
    ApprovalRequest,
    Change,
    audit_note,
    changed_policy,
    parse_policy,
    rule_for,
)
from gateway.control.audit import subjects
from gateway.errors import ConfigError, Conflict, Forbidden

HAND: tuple[Change, ...] = ("production.set", "production.rollback", "experiment.promote")


def _request(**fields: object) -> ApprovalRequest:
    base: dict[str, object] = {
        "id": "a1b2c3",
        "change": "production.set",
        "target": "production",
        "params": {"version": "cand-v2"},
        "summary": "set production to 'cand-v2'",
        "diff": [{"path": "production", "old": "prod-v1", "new": "cand-v2"}],
        "rule": "production: ...",
        "subjects": ["production"],
        "requested_by": "alice",
        "reason": "ship",
        "requested_at": 100.0,
        "expires_at": 200.0,
    }
    return msgspec.convert(base | fields, ApprovalRequest)


def test_the_default_policy_holds_nothing() -> None:
    policy = ApprovalPolicy()
    assert not policy.holds_any
    others: tuple[Change, ...] = ("model.override", "decision.promote")
    for change in (*HAND, *others):
        assert rule_for(policy, change) is None
    assert rule_for(policy, "experiment.start", coverage=(0.0, 1.0)) is None


def test_each_rule_holds_its_own_changes_only() -> None:
    production = ApprovalPolicy(production=True)
    for change in HAND:
        assert (rule_for(production, change) or "").startswith("production:")
    assert rule_for(production, "model.override") is None
    assert rule_for(production, "decision.promote") is None
    assert rule_for(ApprovalPolicy(gate_override=True), "model.override") is not None
    assert rule_for(ApprovalPolicy(decision_loop=True), "decision.promote") is not None
    assert rule_for(ApprovalPolicy(decision_loop=True), "production.set") is None


@pytest.mark.parametrize(
    ("before", "after", "held"),
    [
        (0.0, 0.5, False),  # at the limit, not above it
        (0.0, 0.51, True),
        (0.3, 0.9, True),  # raised above it
        (0.9, 0.6, False),  # lowered, though above it
        (0.6, 0.6, False),
    ],
)
def test_coverage_is_held_above_the_limit_when_it_rises(
    before: float, after: float, held: bool
) -> None:
    policy = ApprovalPolicy(coverage_above=0.5)
    rule = rule_for(policy, "experiment.edit", coverage=(before, after))
    assert (rule is not None) == held
    if rule is not None:
        assert f"coverage {after:g} is above 0.5" in rule


def test_loosening_a_policy_in_force_is_held_tightening_is_not() -> None:
    strict = ApprovalPolicy(production=True, coverage_above=0.5)
    for looser in (
        ApprovalPolicy(coverage_above=0.5),
        ApprovalPolicy(production=True, coverage_above=0.8),
        ApprovalPolicy(production=True),
    ):
        assert rule_for(strict, "approval-policy.set", new_policy=looser) is not None
    tighter = ApprovalPolicy(production=True, coverage_above=0.2, gate_override=True)
    assert rule_for(strict, "approval-policy.set", new_policy=tighter) is None
    assert rule_for(ApprovalPolicy(), "approval-policy.set", new_policy=tighter) is None


def test_a_bad_policy_names_the_field_and_the_value() -> None:
    with pytest.raises(ConfigError) as bad:
        parse_policy({"coverage_above": 1.5})
    assert bad.value.where == "coverage_above" and "<= 1.0" in bad.value.detail
    with pytest.raises(ConfigError) as short:
        changed_policy(ApprovalPolicy(), {"expires_after_s": 1})
    assert short.value.where == "expires_after_s"
    with pytest.raises(ConfigError) as unknown:
        changed_policy(ApprovalPolicy(), {"quorum": 2})
    assert unknown.value.where == "quorum" and "production" in unknown.value.detail
    changed = changed_policy(ApprovalPolicy(production=True), {"coverage_above": 0.3})
    assert changed == ApprovalPolicy(production=True, coverage_above=0.3)
    assert ApprovalPolicy().diff(changed) == [
        {"path": "approval_policy.production", "old": False, "new": True},
        {"path": "approval_policy.coverage_above", "old": None, "new": 0.3},
    ]


def test_only_another_admin_approves_and_only_once() -> None:
    pending = _request()
    with pytest.raises(Forbidden, match="alice requested it and cannot approve it"):
        pending.approve("alice", "", 150.0)
    approved = pending.approve("bob", "ok", 150.0)
    assert (approved.status, approved.decided_by, approved.decided_at) == ("approved", "bob", 150)
    with pytest.raises(Conflict, match="approved already"):
        approved.approve("carol", "", 151.0)
    with pytest.raises(Conflict, match="approved already"):
        approved.reject("carol", "no", 151.0)
    withdrawn = pending.reject("alice", "wrong version", 150.0)
    assert withdrawn.status == "rejected" and withdrawn.decision_reason == "wrong version"


def test_past_its_time_a_request_is_expired_never_approved() -> None:
    pending = _request()
    assert not pending.due(199.9) and pending.due(200.0)
    with pytest.raises(Conflict, match="expired"):
        pending.approve("bob", "", 200.0)
    assert pending.expire().status == "expired"


def test_a_request_round_trips_and_its_audit_note_names_its_subjects() -> None:
    pending = _request()
    assert ApprovalRequest.decode(pending.encode()) == pending
    entry = {"actor": "alice", "diff": [], "approval": audit_note(pending, "requested")}
    assert subjects(entry) == ["approval:a1b2c3", "production"]
    policy_entry = {"diff": [{"path": "approval_policy.production", "old": False, "new": True}]}
    assert subjects(policy_entry) == ["approval-policy"]
