"""Shadow scoring: a share of production's searches is also ranked by each shadow version,
off the response path and out of the gateway's process.

A gateway process only samples a search (:func:`sampled`) and writes one line (the job:
query, candidates, production's scores) to its shadow worker's stdin
(:class:`gateway.ops.shadow_client.ShadowClient`): a few microseconds, never awaited; when
the worker falls behind the pipe's buffer fills and jobs are dropped, counted. The shadow
worker (:mod:`gateway.ops.shadow_worker`, one child per gateway process, at the lowest CPU
priority) runs :class:`ShadowScorer`: it loads the shadow versions itself, ranks jobs in
batches, compares each ranking with production's (:mod:`gateway.ops.agreement`) and adds
the figures to Redis once a second. Searches never share an interpreter (GIL) or a CPU
priority with shadow work, so shadow traffic costs the searches little more than the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.inference.batch import Float32Array, merge, split
from gateway.inference.feature_table import FeatureTable
from gateway.inference.registry import OnnxRanker
from gateway.keys import Keys
from gateway.ops.agreement import Agreement, agreements
from gateway.ops.histogram import latency_field
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.shadow")

QUEUE_SIZE: Final = 256
BATCH: Final = 16  # jobs ranked together
MAX_AGE_S: Final = 2.0  # a job older than this when its turn comes is dropped, counted


@dataclass(frozen=True)
class ShadowJob:
    version: str
    query: str
    candidates: list[int | str]
    features: FeatureTable | None
    context: dict[str, Any]
    production_scores: Float32Array
    offered_at: float = field(default_factory=time.monotonic)  # system-wide monotonic clock

    def encode(self) -> bytes:
        """One line: orjson never writes a raw newline."""
        return (
            orjson.dumps(
                {
                    "v": self.version,
                    "q": self.query,
                    "c": self.candidates,
                    "f": None if self.features is None else self.features.to_json(),
                    "x": self.context,
                    "s": self.production_scores,
                    "t": self.offered_at,
                },
                option=orjson.OPT_SERIALIZE_NUMPY,
            )
            + b"\n"
        )

    @classmethod
    def decode(cls, line: bytes) -> ShadowJob:
        d = orjson.loads(line)
        features = d.get("f")
        return cls(
            str(d["v"]),
            str(d["q"]),
            [c if isinstance(c, str) else int(c) for c in d["c"]],
            None if features is None else FeatureTable.from_json(features),
            dict(d.get("x") or {}),
            np.asarray(d["s"], dtype=np.float32),
            float(d["t"]),
        )


def sampled(search_id: str, share: float) -> bool:
    """Deterministic per search: the same search is shadowed (or not) by every process."""
    return zlib.crc32(search_id.encode()) / 2**32 < share


class ShadowFigures:
    """Per-version counters and sums, added to Redis once a second (kept on failure)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.ints: Counter[tuple[str, str]] = Counter()
        self.floats: defaultdict[tuple[str, str], float] = defaultdict(float)

    async def flush(self) -> None:
        ints, floats = self.ints, self.floats
        if not ints and not floats:
            return
        self.ints, self.floats = Counter(), defaultdict(float)
        pipe = self.redis.pipeline(transaction=False)
        for (version, name), count in ints.items():
            pipe.hincrby(self.keys.shadow(version), name, count)
        for (version, name), value in floats.items():
            pipe.hincrbyfloat(self.keys.shadow(version), name, value)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self.ints.update(ints)
            for key, value in floats.items():
                self.floats[key] += value
            raise

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                log.warning("shadow figures not flushed (%s); kept for the next try", exc)

    async def final_flush(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 1.0)


# Loads a version's ranker (off the event loop); raises GatewayError when it cannot.
Loader = Callable[[str], Awaitable[OnnxRanker]]


class ShadowScorer:
    """The shadow worker's core: a bounded queue of jobs, ranked in batches per version."""

    def __init__(
        self,
        figures: ShadowFigures,
        load: Loader,
        cpu_share: float = 1.0,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        if not 0 < cpu_share <= 1:
            raise ValueError(f"cpu_share must be in (0, 1], got {cpu_share}")
        self.figures = figures
        self.load = load
        # After a batch that took t of CPU, rest t (1/share - 1): at most ``cpu_share`` of a
        # core, so that bursts of shadow work stay thin between the searches' work.
        self.rest_factor = 1 / cpu_share - 1
        self.queue: asyncio.Queue[ShadowJob] = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, job: ShadowJob) -> None:
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.figures.ints[(job.version, "dropped")] += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(), name="shadow-work"),
            loop.create_task(self.figures.flush_loop(), name="shadow-flush"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.figures.final_flush()

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until what is queued is scored (at the end of input)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout_s)

    async def _work(self) -> None:
        while True:
            jobs = [await self.queue.get()]
            while len(jobs) < BATCH and not self.queue.empty():
                jobs.append(self.queue.get_nowait())
            now = time.monotonic()
            by_version: defaultdict[str, list[ShadowJob]] = defaultdict(list)
            for job in jobs:
                if now - job.offered_at > MAX_AGE_S:
                    self.figures.ints[(job.version, "dropped")] += 1
                else:
                    by_version[job.version].append(job)
            for version, group in by_version.items():
                started = time.thread_time()
                await self._score(version, group)
                await asyncio.sleep(self.rest_factor * (time.thread_time() - started))
            for _ in jobs:
                self.queue.task_done()

    async def _score(self, version: str, jobs: list[ShadowJob]) -> None:
        """One merged batch for ``jobs``, then each one's figures."""
        started = time.perf_counter()
        try:
            model = await self.load(version)
            merged = merge(
                [model.prepare(j.query, j.candidates, j.features, j.context) for j in jobs]
            )
            scores = model.score(merged)
            parts = split(np.asarray(scores, dtype=np.float32).reshape(-1), merged.offsets)
        except Exception as exc:  # a GatewayError, or onnxruntime's own untyped errors
            log.debug("shadow batch of %s failed: %s", version, exc)
            self.figures.ints[(version, "errors")] += len(jobs)
            return
        took_ms = (time.perf_counter() - started) * 1000.0
        by_size: defaultdict[int, list[int]] = defaultdict(list)
        for i, part in enumerate(parts):
            by_size[part.shape[0]].append(i)
        for members in by_size.values():  # the figures of same-sized searches at once
            figures = agreements(
                np.stack([jobs[i].production_scores for i in members]),
                np.stack([parts[i] for i in members]),
            )
            for i, agree in zip(members, figures, strict=True):
                self._record(jobs[i], parts[i], agree, took_ms)

    def _record(
        self, job: ShadowJob, scores: Float32Array, agree: Agreement, took_ms: float
    ) -> None:
        v = job.version
        ints, floats = self.figures.ints, self.figures.floats
        ints[(v, "scored")] += 1
        ints[(v, latency_field(took_ms))] += 1
        floats[(v, "overlap_sum")] += agree.overlap_at_10
        floats[(v, "tau_sum")] += agree.kendall_tau
        floats[(v, "rbo_sum")] += agree.rbo
        floats[(v, "score_sum")] += float(np.sum(scores, dtype=np.float64))
        floats[(v, "score_sq_sum")] += float(np.sum(np.square(scores, dtype=np.float64)))
        floats[(v, "score_n")] += float(scores.shape[0])
