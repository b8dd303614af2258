"""The decision loop under an approval policy (real Redis): a promotion the policy holds is
asked for once and the experiment runs on, its evaluation saying which request waits; a
rejected promotion is not asked for again."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from gateway.config import parse_routing
from gateway.control.approval_store import ApprovalStore
from gateway.control.approvals import ApprovalPolicy
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.records import EvaluationRecord
from gateway.worker.evaluate import evaluate_all

EXPERIMENT = {
    "key": "exp",
    "status": "running",
    "min_units_per_arm": 100,
    "min_runtime_s": 0,
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.5},
        {"name": "candidate", "model_version": "b", "weight": 0.5},
    ],
}
# The candidate sells, the control does not: a promotion at the first look.
WINNING = {"control:users": 10_000, "control:converters": 0}
WINNING |= {"candidate:users": 10_000, "candidate:converters": 300}


async def _seeded(redis: Redis, prefix: str, decision_loop: bool) -> tuple[Keys, ConfigStore]:
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    await store.seed(parse_routing({"production": "a", "experiments": [EXPERIMENT]}), "test")
    await redis.hset(keys.shard(0).stats("exp"), mapping={k: n for k, n in WINNING.items()})
    policy = ApprovalPolicy(decision_loop=decision_loop, production=True)
    await ApprovalStore(redis, keys).set_policy(policy, "alice", "four eyes")
    return keys, store


async def _stored(redis: Redis, keys: Keys) -> EvaluationRecord:
    raw = await redis.hget(keys.decisions, "exp")
    assert raw is not None
    return EvaluationRecord.from_json(raw)


async def test_a_held_promotion_is_asked_for_once_and_the_experiment_runs_on(
    redis: Redis, prefix: str
) -> None:
    keys, store = await _seeded(redis, prefix, decision_loop=True)
    approvals = ApprovalStore(redis, keys)
    (record,) = await evaluate_all(redis, keys, store)
    assert record.decision.action == "continue" and record.decision.winner == "candidate"
    assert "approval" in record.decision.blocked_by and record.applied_version is None
    (asked,) = await approvals.all()
    assert (asked.status, asked.requested_by, asked.change) == (
        "pending",
        "decision-loop",
        "decision.promote",
    )
    assert asked.params == {"key": "exp", "winner": "candidate", "phase": 0}
    assert asked.diff == [{"path": "production", "old": "a", "new": "b"}]
    assert f"approval {asked.id}" in record.decision.reasons[-1]
    # The stored evaluation says so too (the API and the dashboard read it).
    stored = await _stored(redis, keys)
    assert stored.decision.action == "continue" and f"approval {asked.id}" in " ".join(
        stored.decision.reasons
    )
    _, config = await store.load()
    assert config.production == "a" and config.experiment("exp").running

    # Later looks find the same request: none asked again.
    (again,) = await evaluate_all(redis, keys, store)
    assert [r.id for r in await approvals.all()] == [asked.id]
    assert f"approval {asked.id}" in again.decision.reasons[-1]

    # Rejected: not asked again in this phase; the experiment still runs.
    await approvals.decide(
        asked, asked.reject("bob", "wait for the sale", time.time()), "bob", "no", "rejected"
    )
    (after,) = await evaluate_all(redis, keys, store)
    assert [r.id for r in await approvals.all()] == [asked.id]
    said = after.decision.reasons[-1]
    assert "was rejected" in said and "wait for the sale" in said
    _, config = await store.load()
    assert config.production == "a" and config.experiment("exp").running


async def test_without_the_rule_the_loop_promotes_at_once(redis: Redis, prefix: str) -> None:
    keys, store = await _seeded(redis, prefix, decision_loop=False)
    (record,) = await evaluate_all(redis, keys, store)
    assert record.decision.action == "promote" and record.applied_version is not None
    _, config = await store.load()
    assert config.production == "b"
    assert await ApprovalStore(redis, keys).all() == []
