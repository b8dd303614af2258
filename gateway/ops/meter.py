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
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.keys import Keys
from gateway.ops.histogram import latency_field
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.ops")

FLUSH_INTERVAL_S: Final = 1.0
# The field of ``keys.features_seen`` that counts every search served.
SEARCHED_FIELD: Final = ""  # no feature is named "" (names are 1-64 characters)
# How far back "recent traffic" reaches for the feature checks, in hours (each hour's counts
# are one hash), and the share of those searches a feature must have been carried by.
FEATURES_WINDOW_H: Final = 24
MIN_FEATURE_SHARE: Final = 0.99
# Fewer searches than this in the window are no evidence either way (a probe, a test search).
MIN_FEATURE_SEARCHES = 100


@dataclass(frozen=True)
class FeatureShare:
    name: str
    carried: int
    searches: int

    def __str__(self) -> str:
        share = 100.0 * self.carried / self.searches
        return f"{self.name!r} (carried by {share:.3g}% of {self.searches} searches)"


def features_lacking(
    wanted: Iterable[str], counts: Mapping[str, int], min_share: float = MIN_FEATURE_SHARE
) -> list[FeatureShare] | None:
    """The names in ``wanted`` that fewer than ``min_share`` of the counted searches carried
    (a treatment reading one would fail on the others); None when fewer than
    ``MIN_FEATURE_SEARCHES`` searches were counted (nothing to go by)."""
    searches = counts.get(SEARCHED_FIELD, 0)
    if searches < max(MIN_FEATURE_SEARCHES, 1):
        return None
    return [
        FeatureShare(n, counts.get(n, 0), searches)
        for n in wanted
        if counts.get(n, 0) < min_share * searches
    ]


async def recent_feature_counts(
    redis: Redis, keys: Keys, now: float, hours: int = FEATURES_WINDOW_H
) -> dict[str, int]:
    """Feature name -> searches that carried it over the last ``hours`` hours (this one
    included); ``SEARCHED_FIELD`` -> every search."""
    hour = int(now // 3600)
    pipe = redis.pipeline(transaction=False)
    for h in range(hour - hours + 1, hour + 1):
        pipe.hgetall(keys.features_seen(h))
    total: Counter[str] = Counter()
    for raw in await pipe.execute():
        total.update({k.decode(): int(v) for k, v in raw.items()})
    return dict(total)


class OpsMeter:
    def __init__(self, redis: Redis, keys: Keys, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.interval_s = interval_s
        # (stats id, field) -> count; fields "<variant>:requests|errors|lat16:<bucket>".
        self._counts: Counter[tuple[str, str]] = Counter()
        # Searches since the last flush by the feature names they carried (usually one set).
        self._feature_sets: Counter[tuple[str, ...] | None] = Counter()
        self._task: asyncio.Task[None] | None = None

    def searched(self, feature_names: tuple[str, ...] | None) -> None:
        self._feature_sets[feature_names] += 1

    def scored(self, stats_id: str, variant: str, latency_ms: float) -> None:
        self._counts[(stats_id, f"{variant}:requests")] += 1
        self._counts[(stats_id, f"{variant}:{latency_field(latency_ms)}")] += 1

    def failed(self, stats_id: str, variant: str, missing_features: bool = False) -> None:
        self._counts[(stats_id, f"{variant}:requests")] += 1
        self._counts[(stats_id, f"{variant}:errors")] += 1
        if missing_features:
            self._counts[(stats_id, f"{variant}:missing")] += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ops-flush")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 1.0)

    async def flush(self) -> None:
        if not self._counts and not self._feature_sets:
            return
        counts, self._counts = self._counts, Counter()
        sets, self._feature_sets = self._feature_sets, Counter()
        pipe = self.redis.pipeline(transaction=False)
        for (stats_id, name), count in counts.items():
            pipe.hincrby(self.keys.ops(stats_id), name, count)
        if sets:  # a lost write here costs the feature check a second of searches, no more
            carried: Counter[str] = Counter()
            for names, searches in sets.items():
                carried.update(dict.fromkeys(names or (), searches))
            carried[SEARCHED_FIELD] = sum(sets.values())
            key = self.keys.features_seen(int(time.time() // 3600))
            for name, searches in carried.items():
                pipe.hincrby(key, name, searches)
            pipe.expire(key, (FEATURES_WINDOW_H + 2) * 3600)
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
