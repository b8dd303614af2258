"""The worker's webhook dispatcher: reads events from what is already written, posts them
signed, retries with backoff, and logs every attempt.

Its sources are the audit stream, read from a cursor stored in Redis, and the latest
evaluation of each live experiment phase. The deliveries an entry makes are stored (with the
cursor moved past it) before any is sent, so a restart loses none: each is sent at least once,
and a receiver de-duplicates by ``X-Abgate-Delivery``. It never blocks the decision loop: it
is a task of its own, its queue is bounded (deliveries wait in Redis beyond it), and its
deadlines come from the loop's monotonic clock. Several workers elect one dispatcher by a
lease in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Final

import aiohttp
import msgspec
import orjson
from redis.exceptions import RedisError

from gateway.config import phase_stats_id
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.tasks import cancel_and_wait
from gateway.throttled_log import ThrottledLog
from gateway.webhooks.backoff import RetryPolicy
from gateway.webhooks.events import WebhookEvent, audit_events, delivery_id, new_alerts, wants
from gateway.webhooks.records import Attempt, AttemptOutcome, Delivery, Endpoint
from gateway.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from gateway.webhooks.store import WebhookStore

log = logging.getLogger("abgate.webhooks")

AUDIT_PAGE: Final = 200  # audit entries read per turn
LEASE_TTL_S: Final = 10.0  # a dispatcher that stops renewing is replaced after this
DRAIN_S: Final = 2.0  # on stop, sends in flight get this long before they are cancelled
REDIS_RETRY_S: Final = 1.0  # a delivery whose bookkeeping failed is tried again after this
DEFECT_LOG_S: Final = 10.0  # a defect's traceback is logged at most this often


@dataclass(frozen=True)
class DispatchSettings:
    policy: RetryPolicy
    timeout_s: float = 10.0  # one POST, connection included
    senders: int = 4  # POSTs at once
    queue_size: int = 256  # deliveries due and waiting for a sender (the rest wait in Redis)
    poll_s: float = 0.25  # how often the audit stream is read
    alert_interval_s: float = 1.0  # how often the evaluations are read (about one a second)


class Dispatcher:
    def __init__(
        self,
        store: WebhookStore,
        keys: Keys,
        settings: DispatchSettings,
        counts: Counter[str],
        holder: str,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = ConfigStore(store.redis, keys)
        self.settings = settings
        self.counts = counts  # attempts by outcome (abgate_webhook_deliveries_total)
        self.holder = f"{holder}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()
        self._queue: asyncio.Queue[str] = asyncio.Queue(settings.queue_size)
        self._due: dict[str, float] = {}  # delivery id -> loop time it is due
        self._taken: set[str] = set()  # queued or being sent
        self._leader = False
        self._next_alerts = 0.0  # loop time of the next read of the evaluations
        self._redis_errors = ThrottledLog(log, interval_s=10.0)  # Redis down: a line a while
        self._defect_logged_at = -DEFECT_LOG_S

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        senders = [
            loop.create_task(self._send_loop(session), name=f"webhook-sender-{n}")
            for n in range(self.settings.senders)
        ]
        try:
            while not stop.is_set():
                try:
                    await self.turn()
                except (RedisError, OSError) as exc:
                    self._redis_errors.warning("webhooks: redis error (%s); retrying", exc)
                except Exception:  # a defect: said, and webhooks go on (decisions never wait)
                    self._defect("webhooks: a turn failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_s)
        finally:
            await self._drain(senders)
            await session.close()
            if self._leader:
                with contextlib.suppress(RedisError, OSError):
                    await self.store.release(self.holder)

    async def turn(self) -> None:
        """One turn: hold the lease, read the sources, queue what is due."""
        leader = await self.store.lease(self.holder, LEASE_TTL_S)
        if leader and not self._leader:
            now = asyncio.get_running_loop().time()
            self._due = {i: now for i in await self.store.pending_ids()}
            if self._due:
                log.info("webhooks: %d deliveries waiting from before", len(self._due))
        elif not leader:
            self._due.clear()
        self._leader = leader
        if not leader:
            return
        endpoints = await self.store.all()
        await self._read_audit(endpoints)
        await self._read_evaluations(endpoints)
        self._queue_due()

    async def _drain(self, senders: list[asyncio.Task[None]]) -> None:
        """Let the sends in flight finish (briefly), then stop the senders: a delivery cut
        short stays stored and is sent again by the next dispatcher."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), DRAIN_S)
        await cancel_and_wait(senders)

    def _defect(self, message: str, *args: object) -> None:
        """Log the exception being handled, with its traceback, at most every DEFECT_LOG_S."""
        now = time.monotonic()
        if now - self._defect_logged_at >= DEFECT_LOG_S:
            self._defect_logged_at = now
            log.exception(message, *args)

    # --- reading the sources

    async def _read_audit(self, endpoints: list[Endpoint]) -> None:
        cursor = await self.store.cursor()
        if cursor is None:
            # First start: nothing before the earliest endpoint concerns any endpoint.
            first = min((e.created_at for e in endpoints), default=None)
            start = (
                await self.store.last_audit_id()
                if first is None
                else f"{max(0, int(first * 1000) - 1)}-0"
            )
            await self.store.enqueue([], cursor=start)
            cursor = start
        entries = await self.store.audit_after(cursor, AUDIT_PAGE)
        if not entries:
            return
        events = [event for entry_id, entry in entries for event in audit_events(entry_id, entry)]
        deliveries = self._deliveries(events, endpoints)
        await self.store.enqueue(deliveries, cursor=entries[-1][0])
        self._schedule_now(deliveries)
        await self._follow({k for e in events for k in e.data.get("experiments", ())})

    async def _follow(self, experiments: set[str]) -> None:
        """Have the alerts of these experiments' current phases read: one that started and
        concluded between two reads of the evaluations was never seen live, and its final
        evaluation may have raised an alert (an operational breach rolls back at once)."""
        if not experiments:
            return
        _, config = await self.config.load()
        await self.store.follow(
            [phase_stats_id(e.key, e.phase) for e in config.experiments if e.key in experiments]
        )

    async def _read_evaluations(self, endpoints: list[Endpoint]) -> None:
        """Alerts from the latest evaluation of each live experiment phase, and a last time
        from a phase that has just ended (concluded, or a new phase begun): its final
        evaluation may have raised one as it concluded."""
        now = asyncio.get_running_loop().time()
        if now < self._next_alerts:
            return
        self._next_alerts = now + self.settings.alert_interval_s
        _, config = await self.config.load()
        live = [phase_stats_id(e.key, e.phase) for e in config.live]
        before = await self.store.alert_state()
        ended = [s for s in before if s not in live]
        stats_ids = live + ended
        if not stats_ids:
            return
        records = await self.store.redis.hmget(self.store.keys.decisions, stats_ids)
        events: list[WebhookEvent] = []
        changed: dict[str, list[str]] = {}
        for stats_id, raw in zip(stats_ids, records, strict=True):
            previous = before.get(stats_id)
            if raw is None:
                if previous is None:
                    changed[stats_id] = []  # seen live: read once more when it ends
                continue
            started, raised = new_alerts(stats_id, orjson.loads(raw), previous or ())
            events += started
            if raised != previous:
                changed[stats_id] = raised
        if not changed and not ended:
            return
        deliveries = self._deliveries(events, endpoints)
        await self.store.enqueue(deliveries, alerts=changed, forget=ended)
        self._schedule_now(deliveries)

    @staticmethod
    def _deliveries(events: list[WebhookEvent], endpoints: list[Endpoint]) -> list[Delivery]:
        """Each event for each endpoint that subscribed to it and was registered before it."""
        return [
            Delivery(
                id=delivery_id(event.id, endpoint.name),
                endpoint=endpoint.name,
                event_id=event.id,
                type=event.type,
                ts=event.ts,
                body=event.body().decode(),
            )
            for event in events
            for endpoint in endpoints
            if wants(endpoint.events, event.type) and endpoint.created_at <= event.ts
        ]

    def _schedule_now(self, deliveries: list[Delivery]) -> None:
        now = asyncio.get_running_loop().time()
        for d in deliveries:
            self._due.setdefault(d.id, now)

    def _queue_due(self) -> None:
        now = asyncio.get_running_loop().time()
        for delivery, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due > now or self._queue.full():
                break
            if delivery not in self._taken:
                self._taken.add(delivery)
                self._queue.put_nowait(delivery)

    # --- sending

    async def _send_loop(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delivery = await self._queue.get()
            try:
                await self._send(session, delivery)
            except (RedisError, OSError) as exc:
                self._redis_errors.warning(
                    "webhooks: delivery %s not recorded (%s); retrying", delivery, exc
                )
                self._due[delivery] = loop.time() + REDIS_RETRY_S
            except Exception:  # a defect: said; the delivery stays stored and is tried later
                self._defect("webhooks: delivery %s failed; trying it again later", delivery)
                self._due[delivery] = loop.time() + REDIS_RETRY_S
            finally:
                self._taken.discard(delivery)
                self._queue.task_done()

    async def _send(self, session: aiohttp.ClientSession, delivery_id: str) -> None:
        loop = asyncio.get_running_loop()
        delivery = await self.store.delivery(delivery_id)
        if delivery is None:  # settled by an earlier holder of the lease
            self._due.pop(delivery_id, None)
            return
        attempt = delivery.attempts + 1
        endpoint = await self.store.find(delivery.endpoint)
        if endpoint is None or endpoint.created_at > delivery.ts:
            self._settle(delivery, "dropped")
            await self.store.record(
                delivery,
                self._attempt(delivery, attempt, "dropped", error="the endpoint was removed"),
                settled=True,
            )
            return
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "abgate-webhooks/1",
            SIGNATURE_HEADER: signature_header(endpoint.secret, int(time.time()), body),
            EVENT_HEADER: delivery.type,
            DELIVERY_HEADER: delivery.id,
        }
        status: int | None = None
        error: str | None = None
        started = loop.time()
        try:
            async with session.post(
                endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_s:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        latency_ms = round((loop.time() - started) * 1000, 3)
        if status is not None and 200 <= status < 300:
            self._settle(delivery, "delivered")
            record = self._attempt(delivery, attempt, "delivered", status, None, latency_ms)
            await self.store.record(delivery, record, settled=True)
            return
        if error is None:
            error = f"answered {status}"
        wait = self.settings.policy.delay(attempt, self.rng.random())
        if wait is None:
            self._settle(delivery, "failed")
            record = self._attempt(delivery, attempt, "failed", status, error, latency_ms)
            log.warning(
                "webhooks: %s to %s failed after %d attempts (%s)",
                delivery.type,
                endpoint.name,
                attempt,
                error,
            )
            await self.store.record(delivery, record, settled=True)
            return
        self.counts["retried"] += 1
        self._due[delivery.id] = loop.time() + wait
        record = self._attempt(
            delivery, attempt, "retried", status, error, latency_ms, time.time() + wait
        )
        updated = msgspec.structs.replace(delivery, attempts=attempt)
        await self.store.record(updated, record, settled=False)

    def _settle(self, delivery: Delivery, outcome: AttemptOutcome) -> None:
        self.counts[outcome] += 1
        self._due.pop(delivery.id, None)

    @staticmethod
    def _attempt(
        delivery: Delivery,
        attempt: int,
        outcome: AttemptOutcome,
        status: int | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        next_retry_at: float | None = None,
    ) -> Attempt:
        return Attempt(
            delivery=delivery.id,
            event_id=delivery.event_id,
            type=delivery.type,
            attempt=attempt,
            ts=time.time(),
            outcome=outcome,
            status=status,
            error=error,
            latency_ms=latency_ms,
            next_retry_at=next_retry_at,
        )
