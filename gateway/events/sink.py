"""Event sink: the request path appends to a bounded in-memory buffer and returns.

A background task pipelines the buffer into Redis streams in batches. If Redis
fails, the batch goes to the disk spool (fsync) and is replayed when Redis is
back. On graceful shutdown the buffer is flushed, to Redis or to the spool. A
hard kill loses at most what was buffered: one flush window.

Durable mode (``SinkPolicy.durable``, ``ABGATE_ACK=durable``): :meth:`EventSink.put` returns
only once the records' batch is in Redis or fsync'd to the spool, so a hard kill loses nothing
that was acknowledged. Group commit: a put wakes the flush task at once, and whatever arrives
while one batch is being written goes together in the next, so under load a write carries many
requests' records and each waits about one Redis round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.errors import Overloaded
from gateway.events.spool import Record, Spool
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.events")


@dataclass(frozen=True)
class SinkPolicy:
    max_buffer: int = 200_000
    max_batch: int = 1000
    flush_interval_s: float = 0.02
    replay_interval_s: float = 1.0
    durable: bool = False  # acknowledge once in Redis or the fsync'd spool (group commit)
    durable_wait_s: float = 10.0  # a put not yet durable after this is refused (503)


STAGES: Final = ("accepted", "rejected", "written", "spooled", "replayed")


class EventSink:
    def __init__(self, redis: Redis, spool: Spool, policy: SinkPolicy) -> None:
        self.redis = redis
        self.spool = spool
        self.policy = policy
        self._counts = metrics.Since(metrics.SINK_EVENTS, metrics.SINK_REDIS_FAILURES)
        self.redis_ok = True
        self._buffer: deque[Record] = deque()
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        # Durable mode: records are settled (written or spooled) in the order they were put;
        # a waiter is released once every record up to its last one is.
        self._put_total = 0
        self.writes = 0  # batches written to Redis (a durable put waits for one)
        self._settled_total = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def put_many(self, records: list[Record]) -> None:
        """Accept records or raise ``Overloaded``; never blocks, never touches Redis."""
        if self._closing:
            raise Overloaded("event sink is shutting down", retry_after_s=1.0)
        if len(self._buffer) + len(records) > self.policy.max_buffer:
            metrics.SINK_EVENTS.labels("rejected").inc(len(records))
            raise Overloaded(f"event buffer full ({self.policy.max_buffer})", retry_after_s=1.0)
        self._buffer.extend(records)
        self._put_total += len(records)
        metrics.SINK_EVENTS.labels("accepted").inc(len(records))
        if len(self._buffer) >= self.policy.max_batch:
            self._wake.set()

    async def put(self, records: list[Record]) -> None:
        """Accept records (``Overloaded`` if the buffer is full); in durable mode, return once
        they are in Redis or the fsync'd spool (``Overloaded`` if not within
        ``durable_wait_s``: they may still arrive, and a retry is de-duplicated)."""
        self.put_many(records)
        if not self.policy.durable:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiters.append((self._put_total, done))
        self._wake.set()
        try:
            async with asyncio.timeout(self.policy.durable_wait_s):  # no task per put
                await done
        except TimeoutError:
            raise Overloaded(
                f"events not yet stored after {self.policy.durable_wait_s:g} s", retry_after_s=1.0
            ) from None

    def _settled(self, n: int) -> None:
        """``n`` more records (the oldest taken) are in Redis or the spool: release waiters."""
        self._settled_total += n
        while self._waiters and self._waiters[0][0] <= self._settled_total:
            _, done = self._waiters.popleft()
            if not done.done():
                done.set_result(None)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._flush_loop(), name="sink-flush"),
            loop.create_task(self._replay_loop(), name="sink-replay"),
        ]

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, flush what is buffered (Redis or spool), stop the tasks.

        The flush loop is asked to finish, not cancelled: a cancellation that lands
        inside redis-py's ``pipeline.execute()`` can be swallowed (the loop then runs
        on after ``close()``) or can lose the reply of a batch that was written, which
        would then be written twice.
        """
        self._closing = True
        self._wake.set()
        self._closed.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
            await cancel_and_wait(self._tasks)  # only what overran the deadline
        self._tasks = []
        while self._buffer:
            if loop.time() >= deadline or not self.redis_ok:
                self._spool_rest()
                break
            await self._flush_once()
        self.spool.rotate()

    def _spool_rest(self) -> None:
        rest = list(self._buffer)
        self._buffer.clear()
        self.spool.write(rest)
        self._settled(len(rest))

    async def _flush_loop(self) -> None:
        while True:
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.policy.flush_interval_s)
                self._wake.clear()
            while self._buffer:
                await self._flush_once()
                if len(self._buffer) < self.policy.max_batch and not self._closing:
                    break
            if self._closing:
                return

    async def _flush_once(self) -> None:
        n = min(len(self._buffer), self.policy.max_batch)
        batch = [self._buffer.popleft() for _ in range(n)]
        if not self.redis_ok:
            # Redis is known to be down: straight to disk, the replay loop probes for recovery.
            self.spool.write(batch)
            self._settled(n)
            return
        try:
            await self._xadd(batch)
            self.writes += 1
            metrics.SINK_EVENTS.labels("written").inc(n)
            self.redis_ok = True
        except (RedisError, OSError) as exc:
            # Possibly partly written: the replay may duplicate, the worker de-duplicates.
            metrics.SINK_REDIS_FAILURES.inc()
            if self.redis_ok:
                log.warning(
                    "redis unavailable (%s); spooling events to %s", exc, self.spool.directory
                )
            self.redis_ok = False
            self.spool.write(batch)
        except BaseException:
            self._buffer.extendleft(reversed(batch))  # cancelled mid-write: keep them for close()
            raise
        self._settled(n)

    async def _xadd(self, records: list[Record]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for stream, data in records:
            pipe.xadd(stream, {"e": data})
        await pipe.execute()

    async def _replay_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self.policy.replay_interval_s)
            if self._closing:
                return
            if not self.spool.has_backlog():
                continue
            try:
                await self.redis.ping()
            except (RedisError, OSError):
                continue
            self.spool.rotate()
            await self.replay()

    async def replay(self) -> int:
        """Push every replayable spool file to Redis; return how many records went."""
        total = 0
        for path, records in self.spool.replayable():
            if self._closing:
                break  # the files stay; the next start (or another process) replays them
            try:
                for start in range(0, len(records), self.policy.max_batch):
                    await self._xadd(records[start : start + self.policy.max_batch])
            except (RedisError, OSError) as exc:
                log.warning("replay of %s interrupted: %s", path.name, exc)
                return total
            self.spool.done(path, len(records))
            total += len(records)
        if total:
            self.redis_ok = True
            log.info("replayed %d spooled events", total)
        return total

    def count(self, stage: str) -> int:
        """Records at ``stage`` (accepted, rejected, written, spooled, replayed) since this sink
        started, from the metrics registry."""
        return self._counts.get("abgate_sink_records_total", stage)

    def snapshot(self) -> dict[str, Any]:
        return {
            "buffered": len(self._buffer),
            **{stage: self.count(stage) for stage in STAGES},
            "redis_failures": self._counts.get("abgate_sink_redis_failures_total"),
        }
