"""A gateway process's operational counts per experiment phase and variant (scorings,
failures, latency buckets), added to Redis once a second so the worker sees the sum over
every process. Counting is in memory on the search path; only the flush does I/O."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.keys import Keys
from gateway.ops.histogram import bucket
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.ops")

FLUSH_INTERVAL_S: Final = 1.0


class OpsMeter:
    def __init__(self, redis: Redis, keys: Keys, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.interval_s = interval_s
        # (stats id, field) -> count; fields "<variant>:requests|errors|lat:<bucket>".
        self._counts: Counter[tuple[str, str]] = Counter()
        self._task: asyncio.Task[None] | None = None

    def scored(self, stats_id: str, variant: str, latency_ms: float) -> None:
        self._counts[(stats_id, f"{variant}:requests")] += 1
        self._counts[(stats_id, f"{variant}:lat:{bucket(latency_ms)}")] += 1

    def failed(self, stats_id: str, variant: str) -> None:
        self._counts[(stats_id, f"{variant}:requests")] += 1
        self._counts[(stats_id, f"{variant}:errors")] += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ops-flush")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 1.0)

    async def flush(self) -> None:
        if not self._counts:
            return
        counts, self._counts = self._counts, Counter()
        pipe = self.redis.pipeline(transaction=False)
        for (stats_id, name), count in counts.items():
            pipe.hincrby(self.keys.ops(stats_id), name, count)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self._counts.update(counts)  # kept for the next flush (a few keys per experiment)
            raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                log.warning("operational counts not flushed (%s); kept for the next try", exc)
