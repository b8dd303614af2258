"""Shadow scoring: a share of production's searches is also ranked by each shadow version,
off the response path. The search handler only offers a job to a bounded queue (never
waits: when the queue is full the job is dropped and counted); one task per process works
the queue through the shadow version's batcher, compares its ranking with production's
(gateway.ops.agreement), and adds the figures to Redis once a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.errors import GatewayError
from gateway.inference.batch import Float32Array
from gateway.inference.registry import ModelRegistry
from gateway.keys import Keys
from gateway.ops.agreement import agreement
from gateway.ops.histogram import bucket
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.shadow")

QUEUE_SIZE: Final = 256
BATCH: Final = 16  # jobs ranked together
LAG_BUDGET_S: Final = 0.001  # the event loop's lag past which shadow work is dropped
TIMEOUT_S: Final = 2.0


@dataclass(frozen=True)
class ShadowJob:
    version: str
    query: str
    candidates: list[int]
    features: npt.NDArray[np.float32] | None
    context: dict[str, Any]
    production_scores: Float32Array


def sampled(search_id: str, share: float) -> bool:
    """Deterministic per search: the same search is shadowed (or not) by every process."""
    return zlib.crc32(search_id.encode()) / 2**32 < share


class ShadowRunner:
    def __init__(
        self, redis: Redis, keys: Keys, registry: ModelRegistry, queue_size: int = QUEUE_SIZE
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.registry = registry
        self.queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=queue_size)
        self._ints: Counter[tuple[str, str]] = Counter()
        self._floats: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, job: ShadowJob) -> None:
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:  # shadow work is the first to go under load
            self._ints[(job.version, "dropped")] += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(), name="shadow-work"),
            loop.create_task(self._flush_loop(), name="shadow-flush"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 1.0)

    async def _work(self) -> None:
        """Take every queued job (up to ``BATCH``) at once, so that they merge into one batch of
        the shadow version's batcher instead of each waiting out its own batch window."""
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            while len(jobs) < BATCH and not self.queue.empty():
                jobs.append(self.queue.get_nowait())
            # Searches first: when the event loop is slow to come back to us, this process is
            # busy serving, and the shadow work is dropped (counted) rather than queued behind it.
            yielded = loop.time()
            await asyncio.sleep(0)
            if loop.time() - yielded > LAG_BUDGET_S:
                for job in jobs:
                    self._ints[(job.version, "dropped")] += 1
                continue
            await asyncio.gather(*(self._one(job) for job in jobs))

    async def _one(self, job: ShadowJob) -> None:
        started = time.perf_counter()
        try:
            model = self.registry.get(job.version)
            async with asyncio.timeout(TIMEOUT_S):
                scores = await model.rank(job.query, job.candidates, job.features, job.context)
        except (GatewayError, TimeoutError):
            self._ints[(job.version, "errors")] += 1
            return
        took_ms = (time.perf_counter() - started) * 1000.0
        agree = agreement(job.production_scores, scores)
        v = job.version
        self._ints[(v, "scored")] += 1
        self._ints[(v, f"lat:{bucket(took_ms)}")] += 1
        self._floats[(v, "overlap_sum")] += agree.overlap_at_10
        self._floats[(v, "tau_sum")] += agree.kendall_tau
        self._floats[(v, "rbo_sum")] += agree.rbo
        self._floats[(v, "score_sum")] += float(np.sum(scores, dtype=np.float64))
        self._floats[(v, "score_sq_sum")] += float(np.sum(np.square(scores, dtype=np.float64)))
        self._floats[(v, "score_n")] += float(scores.shape[0])

    async def flush(self) -> None:
        ints, floats = self._ints, self._floats
        if not ints and not floats:
            return
        self._ints, self._floats = Counter(), defaultdict(float)
        pipe = self.redis.pipeline(transaction=False)
        for (version, name), count in ints.items():
            pipe.hincrby(self.keys.shadow(version), name, count)
        for (version, name), value in floats.items():
            pipe.hincrbyfloat(self.keys.shadow(version), name, value)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self._ints.update(ints)
            for key, value in floats.items():
                self._floats[key] += value
            raise

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                log.warning("shadow figures not flushed (%s); kept for the next try", exc)
