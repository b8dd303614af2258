"""The evaluation history in Redis: one point per evaluation, thinned (never cut) past its
bound, so an experiment of any length keeps its whole course."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gateway import evaluations
from gateway.evaluations import read_history, store_evaluation, thinned
from gateway.keys import Keys
from gateway.records import DecisionRecord, EvaluationRecord
from gateway.redis_server import EmbeddedRedis


def test_thinning_keeps_the_newest_and_the_span() -> None:
    assert thinned(list(range(10))) == [1, 3, 5, 7, 9]
    assert thinned(list(range(11))) == [0, 2, 4, 6, 8, 10]
    assert thinned([7]) == [7]


async def test_history_grows_then_thins(
    redis_server: EmbeddedRedis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluations, "MAX_POINTS", 8)
    redis = Redis.from_url(redis_server.url)
    keys = Keys(prefix)
    for i in range(9):
        record = EvaluationRecord("exp", float(i), "conversion", 0.05, float(i),
                                  DecisionRecord("continue", None, ()), look=i)  # fmt: skip
        await store_evaluation(redis, keys, "exp@0", "exp", record)
    points = await read_history(redis, keys, "exp")
    assert [p["look"] for p in points] == [0, 2, 4, 6, 8]  # 9 > 8: every other, newest kept
    raw = await redis.hget(keys.decisions, "exp@0")
    assert raw is not None
    latest = EvaluationRecord.from_json(raw)
    assert latest.look == 8
    await redis.aclose()
