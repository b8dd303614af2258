"""The shadow worker: one child process per gateway process, at the lowest CPU priority.

It reads jobs, one per line, from its stdin (written by the gateway process's
:class:`gateway.ops.shadow_client.ShadowClient`), loads each shadow version from the
registry and the model store itself, scores the jobs (:class:`gateway.ops.shadow.ShadowScorer`)
and adds the figures to Redis. It ends when its stdin ends: when the gateway process stops,
or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Final

from gateway.errors import GatewayError, InferenceError
from gateway.inference.registry import OnnxRanker
from gateway.inference.session import SessionOptions
from gateway.keys import Keys
from gateway.models.artifacts import ArtifactStore
from gateway.models.store import ModelStore
from gateway.ops.shadow import ShadowFigures, ShadowJob, ShadowScorer
from gateway.redis_client import redis_client

log = logging.getLogger("abgate.shadow")

NICE: Final = 19
MAX_LINE: Final = 64 * 1024 * 1024
RETRY_LOAD_S: Final = 10.0
IDLE_UNLOAD_S: Final = 300.0


class ShadowModels:
    """The shadow versions this worker has loaded, each on first use; a version that cannot
    be loaded is tried again after RETRY_LOAD_S, and one unused for IDLE_UNLOAD_S is let go."""

    def __init__(self, store: ModelStore, artifacts: ArtifactStore, options: SessionOptions):
        self.store = store
        self.artifacts = artifacts
        self.options = options
        self._models: dict[str, tuple[OnnxRanker, float]] = {}
        self._failed: dict[str, tuple[str, float]] = {}

    async def get(self, version: str) -> OnnxRanker:
        now = time.monotonic()
        for v, (_, used) in list(self._models.items()):
            if now - used > IDLE_UNLOAD_S:
                del self._models[v]
        if version in self._models:
            model = self._models[version][0]
            self._models[version] = (model, now)
            return model
        why, at = self._failed.get(version, ("", 0.0))
        if why and now - at < RETRY_LOAD_S:
            raise InferenceError(why)
        try:
            card = await self.store.get(version)
            model = await asyncio.to_thread(
                OnnxRanker,
                card.declaration,
                self.artifacts.path(card.sha256),
                self.options,
                card.sha256,
            )
        except (GatewayError, OSError) as exc:
            self._failed[version] = (f"shadow version {version!r} not loadable: {exc}", now)
            log.error("%s", self._failed[version][0])
            raise InferenceError(self._failed[version][0]) from None
        self._failed.pop(version, None)
        self._models[version] = (model, now)
        log.info("shadow worker loaded %s (%s)", version, model.provider)
        return model


async def run(
    redis_url: str, prefix: str, models_dir: Path, options: SessionOptions, cpu_share: float
) -> None:
    redis = redis_client(redis_url)
    keys = Keys(prefix)
    models = ShadowModels(ModelStore(redis, keys), ArtifactStore(models_dir), options)
    scorer = ShadowScorer(ShadowFigures(redis, keys), models.get, cpu_share)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    scorer.start()
    try:
        while line := await reader.readline():
            try:
                job = ShadowJob.decode(line)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("shadow worker: unreadable job (%s)", exc)
                continue
            scorer.offer(job)
        await scorer.drain()
    finally:
        await scorer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(redis.aclose(), 2.0)


def lower_priority() -> str:
    """Searches first: this process gets only the CPU they leave. Linux's SCHED_IDLE runs it
    only on an otherwise idle CPU and lets any normal task preempt it at once; elsewhere,
    the lowest nice value."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    with contextlib.suppress(OSError):
        os.nice(NICE)
        return f"nice {NICE}"
    return "normal"


def main(
    redis_url: str, prefix: str, models_dir: Path, intra_op_threads: int, cpu_share: float
) -> int:
    log.info("shadow worker %d at %s CPU priority", os.getpid(), lower_priority())
    options = SessionOptions(intra_op_threads, False)
    asyncio.run(run(redis_url, prefix, models_dir, options, cpu_share))
    return 0
