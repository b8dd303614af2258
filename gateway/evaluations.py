"""Each evaluation stored twice: the latest record (what the decision loop carries over) and
one point in the experiment's history (what the dashboard plots).

The history is a Redis list per experiment, oldest first, over every phase. It holds at most
``MAX_POINTS``: when full, every other point is dropped (halving its resolution), so an
experiment of any length keeps its whole course at a bounded cost.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.records import EvaluationRecord

MAX_POINTS: Final = 1000


def thinned(points: list[Any]) -> list[Any]:
    """Every other point, keeping the newest: half the resolution over the same span."""
    return points[(len(points) - 1) % 2 :: 2]


async def store_evaluation(
    redis: Redis, keys: Keys, stats_id: str, experiment: str, record: EvaluationRecord
) -> None:
    await redis.hset(keys.decisions, stats_id, record.encode())
    key = keys.evaluation_history(experiment)
    length = await redis.rpush(key, orjson.dumps(record.point()))
    if length > MAX_POINTS:
        points: list[Any] = await redis.lrange(key, 0, -1)
        kept = thinned(points)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.rpush(key, *kept)
            await pipe.execute()


async def read_history(redis: Redis, keys: Keys, experiment: str) -> list[dict[str, Any]]:
    raw: list[Any] = await redis.lrange(keys.evaluation_history(experiment), 0, -1)
    return [orjson.loads(p) for p in raw]
