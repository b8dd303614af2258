"""Dynamic batcher: a bounded queue per model version, one runner thread per model.

A batch closes when it holds ``max_batch_pairs`` pairs or when the oldest queued
request has waited ``max_wait_s`` (monotonic loop clock). A failed batch sets
its error on every waiting future; a request cancelled while its batch runs is
simply not answered, and the others are.

A process that may run on one CPU only (its affinity, e.g. one gateway process pinned per
core) scores a batch on the event loop's thread (``BatchPolicy.inline``): a runner thread
then adds no parallelism, only a hop between threads per batch and the two threads taking
turns on the core. With more cores the runner thread lets the loop take in the next
requests while ONNX Runtime (which releases the GIL) scores.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from gateway import metrics
from gateway.errors import InferenceError, Overloaded
from gateway.inference.batch import Float32Array, MergedBatch, RankInput, merge, split

ScoreFn = Callable[[MergedBatch], Float32Array]


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_pairs: int = 4096
    max_wait_s: float = 0.002
    max_queue: int = 1024
    inline: bool = False  # score on the event loop's thread (see the module's docstring)

    def __post_init__(self) -> None:
        if self.max_batch_pairs < 1:
            raise ValueError(f"max_batch_pairs must be >= 1, got {self.max_batch_pairs}")
        if not 0 <= self.max_wait_s <= 1:
            raise ValueError(f"max_wait_s must be in [0, 1], got {self.max_wait_s}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")


@dataclass
class _Pending:
    rank_input: RankInput
    future: asyncio.Future[Float32Array]
    enqueued_at: float


class DynamicBatcher:
    def __init__(self, name: str, score: ScoreFn, policy: BatchPolicy) -> None:
        self.name = name
        self.policy = policy
        self._counts = metrics.Since(
            metrics.BATCH_REQUESTS,
            metrics.BATCH_PAIRS,
            metrics.BATCH_FAILURES,
            metrics.BATCH_REJECTED,
        )
        self._score = score
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=policy.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"onnx-{name}")
        self._task: asyncio.Task[None] | None = None
        self._carry: _Pending | None = None
        self._inflight: list[_Pending] = []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"batcher-{self.name}"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        leftovers = [*self._inflight, *([self._carry] if self._carry else [])]
        while not self._queue.empty():
            leftovers.append(self._queue.get_nowait())
        for pending in leftovers:
            if not pending.future.done():
                pending.future.set_exception(InferenceError(f"model {self.name} is shutting down"))
        self._executor.shutdown(wait=True)

    def stats(self) -> dict[str, int]:
        """This batcher's figures since it started, from the metrics registry."""
        c, v = self._counts, self.name
        return {
            "batches": c.get("abgate_batch_requests_count", v),
            "requests": c.get("abgate_batch_requests_sum", v),
            "pairs": c.get("abgate_batch_pairs_total", v),
            "failures": c.get("abgate_batch_failures_total", v),
            "rejected": c.get("abgate_batch_rejected_total", v),
        }

    async def rank(self, rank_input: RankInput) -> Float32Array:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Float32Array] = loop.create_future()
        try:
            self._queue.put_nowait(_Pending(rank_input, future, loop.time()))
        except asyncio.QueueFull:
            metrics.BATCH_REJECTED.labels(self.name).inc()
            raise Overloaded(
                f"model {self.name}: batch queue full ({self.policy.max_queue})"
            ) from None
        return await future

    async def _collect(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        first = self._carry or await self._queue.get()
        self._carry = None
        batch, pairs = [first], first.rank_input.pairs
        deadline = first.enqueued_at + self.policy.max_wait_s
        while pairs < self.policy.max_batch_pairs:
            try:
                if self._queue.empty():
                    if deadline <= loop.time():
                        break
                    # timeout_at, not wait_for: no task per wait on the hot path
                    async with asyncio.timeout_at(deadline):
                        item = await self._queue.get()
                else:
                    item = self._queue.get_nowait()
            except TimeoutError:
                break
            if pairs + item.rank_input.pairs > self.policy.max_batch_pairs:
                self._carry = item  # starts the next batch; its own deadline still holds
                break
            batch.append(item)
            pairs += item.rank_input.pairs
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [p for p in await self._collect() if not p.future.done()]
            if not batch:
                continue
            self._inflight = batch
            started = loop.time()
            merged = merge([p.rank_input for p in batch])
            try:
                if self.policy.inline:
                    scores = self._score(merged)
                else:
                    scores = await loop.run_in_executor(self._executor, self._score, merged)
                parts = split(np.asarray(scores, dtype=np.float32).reshape(-1), merged.offsets)
            except Exception as exc:  # a failed batch fails each of its requests, not the batcher
                metrics.BATCH_FAILURES.labels(self.name).inc()
                error = InferenceError(
                    f"model {self.name}: batch of {merged.pairs} pairs failed: {exc}"
                )
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                self._inflight = []
                continue
            self._inflight = []
            metrics.BATCH_REQUESTS.labels(self.name).observe(len(batch))
            waits = metrics.QUEUE_WAIT_SECONDS.labels(self.name)
            for pending in batch:
                waits.observe(started - pending.enqueued_at)
            metrics.BATCH_PAIRS.labels(self.name).inc(merged.pairs)
            for pending, part in zip(batch, parts, strict=True):
                if not pending.future.done():  # cancelled while the batch ran
                    pending.future.set_result(part)
