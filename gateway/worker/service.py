"""``abgate worker``: the consume / aggregate / evaluate loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from redis.exceptions import RedisError

from gateway.config import load_routing_file
from gateway.control.actors import WORKER_STARTUP
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.settings import Settings
from gateway.worker.consumer import StreamConsumer
from gateway.worker.evaluate import evaluate_all

log = logging.getLogger("abgate.worker")


async def run_worker(settings: Settings, eval_interval_s: float, stop: asyncio.Event) -> None:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL must be set for the worker")
    redis = redis_client(settings.redis_url)
    keys = Keys(settings.prefix)
    store = ConfigStore(redis, keys)
    # The worker name is stable per host so that a restart re-reads its own pending entries.
    consumer = StreamConsumer(
        redis, keys, name=f"{socket.gethostname()}-{os.environ.get('ABGATE_WORKER_ID', '1')}"
    )
    try:
        await store.seed_or_notice(
            load_routing_file(settings.routing_file), WORKER_STARTUP, str(settings.routing_file)
        )
        await consumer.setup()
        drained = await consumer.drain_pending()
        if drained:
            log.info("re-applied %d entries left pending by an earlier run", drained)
        loop = asyncio.get_running_loop()
        next_eval = loop.time() + eval_interval_s
        while not stop.is_set():
            try:
                await consumer.step(block_ms=200)
                if loop.time() >= next_eval:
                    next_eval = loop.time() + eval_interval_s
                    await evaluate_all(redis, keys, store)
            except (RedisError, OSError) as exc:
                log.warning("redis error in worker loop: %s; retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await redis.aclose()
