"""The worker's pass over interleaved experiments: the record from the counts (pure), and the
decision applied through the control plane against real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.config import parse_routing
from gateway.control.store import ConfigStore
from gateway.interleave.decide import parse_sums
from gateway.keys import Keys
from gateway.records import EvaluationRecord
from gateway.worker.consumer import StreamConsumer
from gateway.worker.evaluate import evaluate_all
from gateway.worker.interleaving import evaluate_interleaving
from tests.worker.entries import interleaved_exposure, item_outcome


def _experiment(key: str = "il", then: str = "production", **fields: Any) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "interleaving",
        "interleaving": {"then": then, "settle_s": 0},
        "min_runtime_s": 0,  # decided as soon as the data allow (the default waits a week)
        "variants": [
            {"name": "production", "model_version": "prod-v1"},
            {"name": "candidate", "model_version": "cand-v2"},
        ],
    } | fields


def test_the_record_carries_the_sign_test_and_an_arm_per_candidate() -> None:
    experiment = parse_routing({"production": "prod-v1", "experiments": [_experiment()]})
    (il,) = experiment.experiments
    sums = parse_sums(
        2,
        {"searches": 30, "slots": 300, "competitive": 150, "0-1:pos": 1, "0-1:neg": 3,
         "0-1:users": 6, "0-1:won": 2, "0-1:lost": 5, "team:1:click": 9},
    )  # fmt: skip
    first = evaluate_interleaving(il, sums, 12, 60.0)
    assert first.decision.action == "continue" and first.method == "sign-test"
    report = first.interleaving
    assert report is not None and report.competitive_share == 0.5
    assert report.order == ("candidate", "production")
    assert report.credited == {"candidate": {"click": 9}}
    (pair,) = report.pairs
    assert (pair.a, pair.b, pair.positive, pair.negative, pair.won, pair.lost) == (
        "production", "candidate", 1, 3, 2, 5,
    )  # fmt: skip
    assert pair.p_value == 1.0  # Λ(1, 3) = 0.8: no evidence
    (arm,) = first.arms
    assert arm.variant == "candidate" and arm.effect.estimate == pytest.approx(0.5)
    assert first.units == {"interleaved": 12}
    # The record survives its JSON form, and its p-values carry to the next evaluation.
    again = EvaluationRecord.from_json(first.encode())
    assert again.interleaving == first.interleaving
    carried = evaluate_interleaving(il, sums, 12, 61.0, again)
    assert carried.look == 2


async def _shoppers(redis: Redis, keys: Keys, experiment: str, prefer: int, users: int) -> None:
    """``users`` shoppers in ``experiment``, each clicking once on ``prefer``'s slot."""
    consumer = StreamConsumer(redis, keys, "c1")
    await consumer.setup()
    for u in range(users):
        sid = f"{experiment}-s{u}"
        await redis.xadd(
            keys.shard(0).exposures,
            interleaved_exposure(sid, f"u{u}", [10, 20, 30], [0, 1, 0], [True, True, False],
                                 experiment=experiment),
        )  # fmt: skip
        await redis.xadd(
            keys.shard(0).outcomes,
            item_outcome(f"{sid}-c", sid, 10 if prefer == 0 else 20, user=f"u{u}"),
        )
    for _ in range(3):
        await consumer.step(block_ms=10)


@pytest.mark.parametrize("then", ["production", "ab"])
async def test_a_preferred_candidate_is_promoted(redis: Redis, prefix: str, then: str) -> None:
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    await store.seed(
        parse_routing({"production": "prod-v1", "experiments": [_experiment(then=then)]}), "test"
    )
    await _shoppers(redis, keys, "il", prefer=1, users=6)
    (record,) = await evaluate_all(redis, keys, store)
    assert record.decision.action == "continue"  # 6 of 6: Λ = 64/7 < 20
    await _shoppers(redis, keys, "il", prefer=1, users=12)  # 12 of 12: Λ = 4096/13
    (record,) = await evaluate_all(redis, keys, store)
    assert (record.decision.action, record.decision.winner) == ("promote", "candidate")
    assert record.applied_version is not None
    _, config = await store.load()
    il = config.experiment("il")
    audit = (await store.audit_log(1))[0]
    assert audit["actor"] == "decision-loop" and "users prefer candidate" in audit["reason"]
    if then == "production":
        assert (il.outcome, config.production) == ("promoted", "cand-v2")
    else:
        assert (il.outcome, config.production) == ("promoted_to_ab", "prod-v1")
        ab = config.experiment("il-ab")
        assert ab.running and [v.model_version for v in ab.variants] == ["prod-v1", "cand-v2"]
        assert "A/B test" in audit["reason"]


async def test_a_worse_candidate_is_rolled_back(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    await store.seed(parse_routing({"production": "prod-v1", "experiments": [_experiment()]}), "t")
    await _shoppers(redis, keys, "il", prefer=0, users=12)
    (record,) = await evaluate_all(redis, keys, store)
    assert (record.decision.action, record.decision.winner) == ("rollback", "production")
    _, config = await store.load()
    assert (config.experiment("il").outcome, config.production) == ("rolled_back", "prod-v1")
