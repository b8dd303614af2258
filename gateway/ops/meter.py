"""A gateway process's operational counts per experiment phase and variant (scorings,
failures, latency buckets), added to Redis once a second so the worker sees the sum over
every process. Counting is in memory on the search path; only the flush does I/O.

It also notes which named features the searches carried (``keys.features_seen``: name -> when
last seen), so that starting an experiment can check its versions read only features that the
storefront sends (:func:`features_lacking`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.keys import Keys
from gateway.ops.histogram import bucket
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.ops")

FLUSH_INTERVAL_S: Final = 1.0
# The field of ``keys.features_seen`` that says when a search was last served at all.
SEARCHED_FIELD: Final = ""  # no feature is named "" (names are 1-64 characters)
# How far back "recent traffic" reaches for the feature check at an experiment's start.
FEATURES_WINDOW_S: Final = 24 * 3600.0


def features_lacking(
    wanted: Iterable[str],
    seen: Mapping[str, float],
    now: float,
    window_s: float = FEATURES_WINDOW_S,
) -> list[str] | None:
    """The names in ``wanted`` that no search carried in the last ``window_s`` seconds; None
    when no search was served in that window (nothing to check against)."""
    since = now - window_s
    if seen.get(SEARCHED_FIELD, 0.0) < since:
        return None
    return [n for n in wanted if seen.get(n, 0.0) < since]


class OpsMeter:
    def __init__(self, redis: Redis, keys: Keys, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.interval_s = interval_s
        # (stats id, field) -> count; fields "<variant>:requests|errors|lat:<bucket>".
        self._counts: Counter[tuple[str, str]] = Counter()
        # The feature-name sets searches carried since the last flush (usually one).
        self._feature_sets: set[tuple[str, ...]] = set()
        self._searched = False
        self._task: asyncio.Task[None] | None = None

    def searched(self, feature_names: tuple[str, ...] | None) -> None:
        self._searched = True
        if feature_names:
            self._feature_sets.add(feature_names)

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
        if not self._counts and not self._searched:
            return
        counts, self._counts = self._counts, Counter()
        pipe = self.redis.pipeline(transaction=False)
        for (stats_id, name), count in counts.items():
            pipe.hincrby(self.keys.ops(stats_id), name, count)
        if self._searched:  # a lost write here is harmless: the next search notes it again
            now = time.time()
            seen = {n: now for names in self._feature_sets for n in names}
            seen[SEARCHED_FIELD] = now
            pipe.hset(self.keys.features_seen, mapping=cast(Any, seen))
            self._searched, self._feature_sets = False, set()
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
