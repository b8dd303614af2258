"""Approvals over HTTP, with two admins (alice asks, bob decides): a change the policy covers
answers 202 and changes nothing until another admin approves it; then it is made as the call
would have made it, checked against the config of that moment; every step audited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.control.approval_store import ApprovalStore, new_id
from gateway.control.approvals import ApprovalRequest
from gateway.http.state import Gateway
from gateway.records import DecisionRecord, EvaluationRecord
from tests.http.test_models import card_of, register, wait_for
from tests.tokens import audited_changes, auth

ALICE, BOB, VERA, ED = auth("alice"), auth("bob"), auth("vera"), auth("ed")


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status == status, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def _error(response: Any, status: int, text: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    message = f"{error.get('where', '')}: {error['message']}"
    assert text in message, message
    return error


async def _policy(client: TestClient, **fields: Any) -> dict[str, Any]:
    return await _ok(
        await client.put(
            "/v1/approval-policy", json=fields | {"reason": "four eyes"}, headers=ALICE
        )
    )


async def test_the_default_policy_holds_nothing(client: TestClient, gateway: Gateway) -> None:
    shown = await _ok(await client.get("/v1/approval-policy", headers=VERA))
    assert shown == {
        "policy": {
            "production": False,
            "gate_override": False,
            "coverage_above": None,
            "decision_loop": False,
            "expires_after_s": 86400.0,
        },
        "stored": False,
    }
    moved = await _ok(
        await client.put(
            "/v1/production", json={"version": "cand-v2", "reason": "x"}, headers=ALICE
        )
    )
    assert moved["production"] == "cand-v2" == gateway.router.config.production
    listed = await _ok(await client.get("/v1/approvals", headers=VERA))
    assert listed == {"pending": [], "recent": []}


async def test_a_production_move_waits_for_a_second_admin(
    client: TestClient, gateway: Gateway
) -> None:
    changed = await _policy(client, production=True)
    assert changed["stored"] and changed["policy"]["production"] is True
    assert changed["diff"] == [{"path": "approval_policy.production", "old": False, "new": True}]
    version = gateway.router.version

    asked = await _ok(
        await client.put(
            "/v1/production", json={"version": "cand-v2", "reason": "ship it"}, headers=ALICE
        ),
        202,
    )
    pending = asked["approval"]
    assert pending["status"] == "pending" and pending["requested_by"] == "alice"
    assert pending["change"] == "production.set" and pending["params"] == {"version": "cand-v2"}
    assert pending["diff"] == [{"path": "production", "old": "prod-v1", "new": "cand-v2"}]
    assert pending["rule"].startswith("production:")
    assert f"abgate approvals approve {pending['id']}" in asked["message"]
    assert gateway.router.config.production == "prod-v1" and gateway.router.version == version
    listed = await _ok(await client.get("/v1/approvals", headers=VERA))
    assert [p["id"] for p in listed["pending"]] == [pending["id"]]

    # The requester cannot approve their own; nothing moves.
    own = await _error(
        await client.post(f"/v1/approvals/{pending['id']}/approve", headers=ALICE),
        403,
        "alice requested it and cannot approve it",
    )
    assert "four-eyes" in own["message"]
    # An experimenter cannot decide at all (admins only).
    await _error(await client.post(f"/v1/approvals/{pending['id']}/approve", headers=ED), 403, "")
    assert gateway.router.config.production == "prod-v1"

    done = await _ok(
        await client.post(
            f"/v1/approvals/{pending['id']}/approve", json={"reason": "looks good"}, headers=BOB
        )
    )
    assert done["status"] == "approved" and done["decided_by"] == "bob"
    assert done["applied_version"] == version + 1
    assert gateway.router.config.production == "cand-v2"
    history = (await _ok(await client.get("/v1/production", headers=VERA)))["history"]
    assert (history[0]["from"], history[0]["to"], history[0]["actor"]) == (
        "prod-v1",
        "cand-v2",
        "alice",
    )
    assert f"approval {pending['id']}, approved by bob" in history[0]["reason"]

    # The trail: asked by alice, approved by bob, then the change itself naming both.
    trail = await _ok(await client.get(f"/v1/audit?subject=approval:{pending['id']}", headers=VERA))
    entries = list(reversed(trail["entries"]))
    assert [(e["actor"], e["approval"]["event"]) for e in entries] == [
        ("alice", "requested"),
        ("bob", "approved"),
        ("alice", "applied"),
    ]
    assert all("production" in e["subjects"] for e in entries)
    assert entries[2]["approval"]["approved_by"] == "bob"
    assert entries[2]["diff"] == [{"path": "production", "old": "prod-v1", "new": "cand-v2"}]

    # Decided once: a second approval is refused and changes nothing.
    await _error(
        await client.post(f"/v1/approvals/{pending['id']}/approve", headers=auth("carol")),
        409,
        "approved already",
    )


async def test_a_rejected_request_changes_nothing(client: TestClient, gateway: Gateway) -> None:
    await _ok(
        await client.put(
            "/v1/production", json={"version": "cand-v2", "reason": "x"}, headers=ALICE
        )
    )
    await _policy(client, production=True)
    asked = await _ok(
        await client.post("/v1/production/rollback", json={"reason": "slow"}, headers=ALICE), 202
    )
    approval_id = asked["approval"]["id"]
    await _error(
        await client.post(f"/v1/approvals/{approval_id}/reject", json={}, headers=BOB),
        400,
        "$.reason",
    )
    before = await audited_changes(gateway.redis, gateway.keys)
    rejected = await _ok(
        await client.post(
            f"/v1/approvals/{approval_id}/reject", json={"reason": "not now"}, headers=BOB
        )
    )
    assert rejected["status"] == "rejected" and rejected["decision_reason"] == "not now"
    after = await audited_changes(gateway.redis, gateway.keys)
    assert [e["approval"]["event"] for e in after[len(before) :]] == ["rejected"]
    assert gateway.router.config.production == "cand-v2"
    await _error(
        await client.post(f"/v1/approvals/{approval_id}/approve", headers=auth("carol")),
        409,
        "rejected already",
    )
    listed = await _ok(await client.get("/v1/approvals", headers=VERA))
    assert listed["pending"] == [] and [r["id"] for r in listed["recent"]] == [approval_id]


async def test_an_approved_change_is_checked_again_when_it_is_made(
    client: TestClient, gateway: Gateway
) -> None:
    await _policy(client, production=True)
    asked = await _ok(
        await client.post(
            "/v1/experiments/better/promote", json={"reason": "it wins"}, headers=ALICE
        ),
        202,
    )
    assert gateway.router.config.experiment("better").status == "running"
    # Meanwhile the experiment is stopped (no approval needed for that).
    await _ok(await client.post("/v1/experiments/better/stop", json={"reason": "x"}, headers=ALICE))
    approval_id = asked["approval"]["id"]
    await _error(
        await client.post(f"/v1/approvals/{approval_id}/approve", headers=BOB),
        409,
        "approved, but it no longer applies",
    )
    failed = await _ok(await client.get(f"/v1/approvals/{approval_id}", headers=VERA))
    assert failed["status"] == "failed" and "better" in failed["error"]
    assert gateway.router.config.production == "prod-v1"


async def test_bad_requests_are_refused_at_once_and_never_held(
    client: TestClient, gateway: Gateway
) -> None:
    await _policy(client, production=True, coverage_above=0.5)
    await _error(
        await client.put("/v1/production", json={"version": "nope", "reason": "x"}, headers=ALICE),
        422,
        "is not registered",
    )
    await _error(
        await client.put("/v1/approval-policy", json={"coverage_above": 2}, headers=ALICE),
        400,
        "$.coverage_above",
    )
    await _error(
        await client.put("/v1/approval-policy", json={"quorum": 2}, headers=ALICE),
        400,
        "$.quorum",
    )
    await _error(await client.put("/v1/approval-policy", json={}, headers=ALICE), 400, "no field")
    await _error(
        await client.put("/v1/approval-policy", json={"production": False}, headers=ED), 403, ""
    )
    await _error(await client.get("/v1/approvals/nope", headers=VERA), 404, "'nope'")
    await _error(await client.get("/v1/approvals/no-pe", headers=VERA), 400, "approval")
    assert (await _ok(await client.get("/v1/approvals", headers=VERA)))["pending"] == []


async def test_coverage_above_the_policy_waits_and_loosening_the_policy_too(
    client: TestClient, gateway: Gateway
) -> None:
    await _policy(client, coverage_above=0.5)
    # Lowering a running experiment's coverage does not wait; raising it above 0.5 does.
    await _ok(
        await client.patch(
            "/v1/experiments/better", json={"coverage": 0.3, "reason": "less"}, headers=ED
        )
    )
    running = gateway.router.config.experiment("better")
    assert running.coverage == 0.3
    asked = await _ok(
        await client.patch(
            "/v1/experiments/better", json={"coverage": 0.9, "reason": "more"}, headers=ED
        ),
        202,
    )
    assert gateway.router.config.experiment("better").coverage == running.coverage
    assert asked["approval"]["change"] == "experiment.edit"
    assert "experiment:better" in asked["approval"]["subjects"]
    done = await _ok(
        await client.post(f"/v1/approvals/{asked['approval']['id']}/approve", headers=BOB)
    )
    assert done["status"] == "approved"
    assert gateway.router.config.experiment("better").coverage == 0.9
    await _ok(
        await client.patch(
            "/v1/experiments/better", json={"coverage": 0.95, "reason": "more"}, headers=ED
        ),
        202,
    )
    assert gateway.router.config.experiment("better").coverage == 0.9

    # Loosening the policy in force waits too; tightening it does not.
    held = await _ok(
        await client.put("/v1/approval-policy", json={"coverage_above": None}, headers=ALICE), 202
    )
    shown = await _ok(await client.get("/v1/approval-policy", headers=VERA))
    assert shown["policy"]["coverage_above"] == 0.5
    await _ok(await client.post(f"/v1/approvals/{held['approval']['id']}/approve", headers=BOB))
    shown = await _ok(await client.get("/v1/approval-policy", headers=VERA))
    assert shown["policy"]["coverage_above"] is None
    await _ok(await client.put("/v1/approval-policy", json={"production": True}, headers=ALICE))


async def test_a_request_expires_unapproved(client: TestClient, gateway: Gateway) -> None:
    await _policy(client, production=True, expires_after_s=60)
    asked = await _ok(
        await client.put(
            "/v1/production", json={"version": "cand-v2", "reason": "x"}, headers=ALICE
        ),
        202,
    )
    approval_id = asked["approval"]["id"]
    # Its time passes (moved back in the store, as a clock would).
    raw = await gateway.redis.hget(gateway.keys.approvals, approval_id)
    stored = raw.decode().replace(
        f'"expires_at":{asked["approval"]["expires_at"]}', '"expires_at":1.0'
    )
    assert stored != raw.decode()
    await gateway.redis.hset(gateway.keys.approvals, approval_id, stored)
    await _error(
        await client.post(f"/v1/approvals/{approval_id}/approve", headers=BOB), 409, "expired"
    )
    shown = await _ok(await client.get(f"/v1/approvals/{approval_id}", headers=VERA))
    assert shown["status"] == "expired"
    assert gateway.router.config.production == "prod-v1"
    trail = await _ok(await client.get(f"/v1/audit?subject=approval:{approval_id}", headers=VERA))
    assert [e["actor"] for e in trail["entries"]] == ["approval-expiry", "alice"]


async def test_a_gate_override_and_a_wide_start_wait_then_apply(
    client: TestClient, gateway: Gateway, models_dir: Path
) -> None:
    onnx = (models_dir / "worse-v0" / "model.onnx").read_bytes()
    card = card_of(models_dir, "worse-v0", "worse-v1")
    assert (await register(client, card, onnx)).status == 202
    await wait_for(client, "worse-v1", lambda c: c["state"] == "failed")
    await _policy(client, gate_override=True, coverage_above=0.5)

    asked = await _ok(
        await client.post("/v1/models/worse-v1/override", json={"reason": "try"}, headers=ALICE),
        202,
    )
    assert asked["approval"]["subjects"] == ["model:worse-v1"]
    assert (await _ok(await client.get("/v1/models/worse-v1", headers=VERA)))["override"] is None
    await _ok(await client.post(f"/v1/approvals/{asked['approval']['id']}/approve", headers=BOB))
    overridden = await wait_for(client, "worse-v1", lambda c: bool(c["loaded_by"]))
    assert overridden["override"]["actor"] == "alice"
    assert (
        f"approval {asked['approval']['id']}, approved by bob" in overridden["override"]["reason"]
    )

    for key in ("better", "worse", "aa"):
        await _ok(
            await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=ED)
        )
    draft = {
        "key": "wide",
        "namespace_range": [0.0, 1.0],
        "coverage": 0.8,
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "worse-v1", "weight": 0.5},
        ],
    }
    await _ok(await client.post("/v1/experiments", json=draft, headers=ED), 201)
    held = await _ok(await client.post("/v1/experiments/wide/start", headers=ED), 202)
    assert held["approval"]["summary"] == "start experiment 'wide' at coverage 0.8"
    assert gateway.router.config.experiment("wide").status == "draft"
    await _ok(await client.post(f"/v1/approvals/{held['approval']['id']}/approve", headers=BOB))
    assert gateway.router.config.experiment("wide").status == "running"


async def test_the_decision_loops_promotion_is_made_when_approved(
    client: TestClient, gateway: Gateway
) -> None:
    """A request the decision loop asked for (as the worker does: gateway.worker.conclusion),
    approved over HTTP: production moves and the experiment concludes, by decision-loop; one
    asked on an earlier phase no longer applies."""
    store = ApprovalStore(gateway.redis, gateway.keys)

    async def asked(key: str, phase: int) -> str:
        request = ApprovalRequest(
            id=new_id(),
            change="decision.promote",
            target=key,
            params={"key": key, "winner": "candidate", "phase": phase},
            summary=f"promote candidate of {key}",
            diff=[{"path": "production", "old": "prod-v1", "new": "cand-v2"}],
            rule="decision_loop: ...",
            subjects=[f"experiment:{key}", "production"],
            requested_by="decision-loop",
            reason="candidate wins",
            requested_at=time.time(),
            expires_at=time.time() + 3600,
        )
        return (await store.ask(request)).id

    stale = await asked("worse", 1)  # 'worse' runs in its phase 0
    await _error(
        await client.post(f"/v1/approvals/{stale}/approve", headers=BOB), 409, "phase 0 now"
    )
    fresh = await asked("better", 0)
    # the evaluation the worker stored when it asked: continue, awaiting the approval
    waiting = EvaluationRecord(
        "better", time.time(), "purchase_conversion", 0.05, 60.0,
        DecisionRecord("continue", None, ("candidate wins", "the promotion of candidate awaits "
                       "an admin's approval (approval x)"), ("approval",)),
    )  # fmt: skip
    await gateway.redis.hset(gateway.keys.decisions, "better", waiting.encode())
    done = await _ok(await client.post(f"/v1/approvals/{fresh}/approve", headers=BOB))
    assert done["status"] == "approved" and done["applied_version"] is not None
    better = gateway.router.config.experiment("better")
    assert (better.status, better.outcome) == ("concluded", "promoted")
    assert gateway.router.config.production == "cand-v2"
    history = (await _ok(await client.get("/v1/production", headers=VERA)))["history"]
    assert (history[0]["actor"], history[0]["experiment"]) == ("decision-loop", "better")
    # and the stored evaluation says what happened, not that it still waits
    view = await _ok(await client.get("/v1/experiments/better", headers=VERA))
    decision = view["last_evaluation"]["decision"]
    assert (decision["action"], decision["winner"], decision["rule"]) == (
        "promote", "candidate", "success"
    )  # fmt: skip
    assert decision["blocked_by"] == [] and "approved by bob" in decision["reasons"][-1]
    assert not any("awaits" in r for r in decision["reasons"])
