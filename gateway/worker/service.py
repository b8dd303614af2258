"""``abgate worker``: the consume / aggregate / evaluate loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import load_routing_file
from gateway.control.actors import WORKER_STARTUP
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.layout import check_layout
from gateway.redis_client import redis_client
from gateway.settings import Settings
from gateway.startup import wait_for_redis
from gateway.tasks import cancel_and_wait
from gateway.throttled_log import ThrottledLog
from gateway.webhooks.backoff import RETRY_CAP_S, RetryPolicy
from gateway.webhooks.dispatcher import Dispatcher, DispatchSettings
from gateway.webhooks.store import WebhookStore
from gateway.worker.aggregates import EventCaps, EventTtls
from gateway.worker.consumer import GROUP, ConsumerStats, StreamConsumer
from gateway.worker.evaluate import evaluate_all
from gateway.worker.health import WorkerState, start_health_server
from gateway.worker.holdout import report_holdout
from gateway.worker.retention import expire_concluded, trim_streams

TRIM_INTERVAL_S = 10.0

log = logging.getLogger("abgate.worker")


async def _stream_lag(redis: Redis, keys: Keys) -> dict[str, int]:
    """Entries not yet delivered to the consumer group, per stream (Redis 7's group lag)."""
    out = {}
    for stream in (s for shard in keys.all_shards for s in (shard.exposures, shard.outcomes)):
        for group in await redis.xinfo_groups(stream):
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == GROUP:
                lag = group.get("lag")
                out[stream] = int(lag) if lag is not None else 0
    return out


async def _consume(consumer: StreamConsumer, state: WorkerState, stop: asyncio.Event) -> None:
    """One shard's loop: read, apply, acknowledge, until ``stop``; Redis errors are retried.

    After an error the consumer's pending list is read again before new entries: a read whose
    reply was lost (Redis killed, paused past the socket timeout) left entries pending for
    this consumer that it never saw, and a read ``>`` would never deliver them again. Applying
    them twice changes nothing (the scripts de-duplicate by event id)."""
    recover = True  # at start: what an earlier run of this worker left pending
    errors = ThrottledLog(log, 30.0)  # an outage retries every second: a line every 30 s
    failing = False
    while not stop.is_set():
        try:
            if recover:
                await consumer.setup()
                drained = await consumer.drain_pending()
                if drained:
                    log.info("shard %d: re-applied %d pending entries", consumer.shard, drained)
                recover = False
            await consumer.step(block_ms=200)
            state.last_turn = state.last_attempt = time.monotonic()  # /healthz: it is reading
            state.last_error = ""
            if failing:
                log.info("shard %d: reading again", consumer.shard)
                failing = False
        except (RedisError, OSError) as exc:
            recover = failing = True
            state.last_attempt = time.monotonic()  # alive, retrying
            state.last_error = str(exc)
            errors.warning("redis error reading shard %d: %s; retrying", consumer.shard, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def _start(
    redis: Redis,
    keys: Keys,
    store: ConfigStore,
    settings: Settings,
    state: WorkerState,
    stop: asyncio.Event,
) -> bool:
    """Check the shard layout and seed the config, retrying with backoff while Redis is
    unreachable, for at most ``ABGATE_REDIS_WAIT_S`` (then :class:`StartupFailed`). False when
    ``stop`` came first."""

    async def ready() -> None:
        await check_layout(redis, keys)
        await store.seed_or_notice(
            load_routing_file(settings.routing_file), WORKER_STARTUP, str(settings.routing_file)
        )

    assert settings.redis_url is not None
    try:
        return await wait_for_redis(
            redis, settings.redis_url, settings.redis_wait_s, state.starting, log, ready, stop
        )
    finally:
        state.started = True
        state.last_turn = state.last_attempt = time.monotonic()


async def _housekeeping(
    redis: Redis,
    keys: Keys,
    store: ConfigStore,
    settings: Settings,
    state: WorkerState,
    stop: asyncio.Event,
) -> None:
    """Every TRIM_INTERVAL_S: trim the applied stream entries past their retention, and give
    concluded experiments' per-user keys their time to live."""
    while not stop.is_set():
        try:
            removed = await trim_streams(
                redis, keys, settings.stream_retention_s, int(time.time() * 1000)
            )
            if any(removed.values()):
                log.debug("trimmed applied stream entries: %s", removed)
            _, config = await store.load()
            expired = await expire_concluded(redis, keys, config, settings.unit_grace_s)
            for key, count in expired.items():
                log.info(
                    "experiment %s concluded: %d per-user keys expire in %.0f s",
                    key,
                    count,
                    settings.unit_grace_s,
                )
        except (RedisError, OSError) as exc:
            state.last_error = str(exc)
            log.warning("redis error in the worker's housekeeping: %s; retrying", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TRIM_INTERVAL_S)


async def run_worker(
    settings: Settings,
    eval_interval_s: float,
    stop: asyncio.Event,
    metrics_port: int | None = None,
) -> None:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL must be set for the worker")
    redis = redis_client(settings.redis_url)
    keys = settings.keys
    store = ConfigStore(redis, keys)
    # The worker name is stable per host so that a restart re-reads its own pending entries.
    name = f"{socket.gethostname()}-{os.environ.get('ABGATE_WORKER_ID', '1')}"
    stats = ConsumerStats()
    ttls = EventTtls(seen_s=settings.seen_ttl_s, search_s=settings.search_ttl_s)
    caps = EventCaps(settings.max_events_per_search, settings.max_purchases_per_day)
    consumers = [
        StreamConsumer(redis, keys, name=name, stats=stats, shard=shard.index, ttls=ttls, caps=caps)
        for shard in keys.all_shards
    ]
    state = WorkerState()
    health = (
        await start_health_server(stats, state, settings.host, metrics_port)
        if metrics_port is not None
        else None
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        if not await _start(redis, keys, store, settings, state, stop):
            return
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(_consume(c, state, stop), name=f"consume-{c.shard}") for c in consumers
        ]
        # Webhooks: a task of its own, so a slow receiver never holds up a decision.
        dispatcher = Dispatcher(
            WebhookStore(redis, keys),
            keys,
            DispatchSettings(
                RetryPolicy(settings.webhook_attempts, settings.webhook_retry_s, RETRY_CAP_S),
                timeout_s=settings.webhook_timeout_s,
            ),
            state.webhooks,
            holder=name,
        )
        tasks.append(loop.create_task(dispatcher.run(stop), name="webhooks"))
        # Housekeeping too: expiring a concluded experiment's per-user keys scans the keyspace
        # (minutes for a large one under load), and evaluations must not wait for it.
        tasks.append(
            loop.create_task(_housekeeping(redis, keys, store, settings, state, stop), name="trim")
        )
        next_eval = loop.time() + eval_interval_s
        loop_errors = ThrottledLog(log, 30.0)
        while not stop.is_set():
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
                if loop.time() >= next_eval:
                    next_eval = loop.time() + eval_interval_s
                    records = await evaluate_all(redis, keys, store)
                    await report_holdout(redis, keys, store, settings.unit_grace_s)
                    state.evaluations += 1
                    state.decisions.update(
                        r.decision.action for r in records if r.applied_version is not None
                    )
                    state.lag = await _stream_lag(redis, keys)
            except (RedisError, OSError) as exc:
                state.last_error = str(exc)
                loop_errors.warning("redis error in worker loop: %s; retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        if tasks:  # each ends its turn (at most one 200 ms read) and stops
            await asyncio.wait(tasks, timeout=3.0)
            await cancel_and_wait(tasks)
        if health is not None:
            await health.cleanup()
        await redis.aclose()
