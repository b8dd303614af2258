"""The worker's own HTTP endpoint (``abgate worker --metrics-port``): ``/metrics`` in the
Prometheus format and ``/healthz``.

A worker is one process, so its figures are read at scrape time from what it already
counts (:class:`gateway.worker.consumer.ConsumerStats` and :class:`WorkerState`); several
workers are several scrape targets, which Prometheus sums.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, get_args

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.errors import GatewayError
from gateway.records import OUTCOME_TYPES
from gateway.startup import Progress
from gateway.webhooks.records import AttemptOutcome
from gateway.worker.consumer import ConsumerStats
from stats.decision import Action

log = logging.getLogger("abgate.worker")

STALE_S = 10.0  # no loop turn for this long: not healthy
# The label values of the worker's counters that are known before anything happens: each is
# scraped from the start, at zero, so that a panel tells zero from missing.
DECISION_ACTIONS: Final = get_args(Action)


@dataclass
class WorkerState:
    """What the worker loop reports about itself."""

    evaluations: int = 0
    decisions: Counter[str] = field(default_factory=Counter)  # by action
    lag: dict[str, int] = field(default_factory=dict)  # stream -> entries not yet read
    last_turn: float = field(default_factory=time.monotonic)  # the last read that succeeded
    last_attempt: float = field(default_factory=time.monotonic)  # ... or failed (it is alive)
    last_error: str = ""
    webhooks: Counter[str] = field(default_factory=Counter)  # delivery attempts by outcome
    # What it waits for at start (Redis): alive meanwhile, for at most ABGATE_REDIS_WAIT_S.
    starting: Progress = field(default_factory=Progress)
    started: bool = False


class WorkerCollector:
    def __init__(self, stats: ConsumerStats, state: WorkerState) -> None:
        self.stats = stats
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        entries = CounterMetricFamily(
            "abgate_worker_entries", "Stream entries the worker took, by result", labels=["result"]
        )
        for result, value in (
            ("exposure_applied", s.exposures),
            ("outcome_applied", s.outcomes),
            ("duplicate", s.duplicates),
            ("deferred", s.deferred),
            ("orphaned", s.orphaned),
            ("dead_letter", s.dead),
            ("capped", s.capped),
            ("unattributed", s.unattributed),
        ):
            entries.add_metric([result], value)
        yield entries
        yield CounterMetricFamily(
            "abgate_worker_evaluations", "Evaluation passes", value=self.state.evaluations
        )
        decisions = CounterMetricFamily(
            "abgate_worker_decisions", "Decisions applied, by action", labels=["action"]
        )
        for action in sorted({*DECISION_ACTIONS, *self.state.decisions}):
            decisions.add_metric([action], self.state.decisions[action])
        yield decisions
        applied = CounterMetricFamily(
            "abgate_worker_outcomes_applied",
            "Outcomes counted for an experiment's arm, by type",
            labels=["type"],
        )
        for kind in sorted({*OUTCOME_TYPES, *s.applied_types}):
            applied.add_metric([kind], s.applied_types[kind])
        yield applied
        webhooks = CounterMetricFamily(
            "abgate_webhook_deliveries",
            "Webhook delivery attempts, by outcome: delivered, retried (tried again later), "
            "failed (the last attempt failed), dropped (its endpoint was removed)",
            labels=["outcome"],
        )
        for outcome in get_args(AttemptOutcome):
            webhooks.add_metric([outcome], self.state.webhooks[outcome])
        yield webhooks
        lag = GaugeMetricFamily(
            "abgate_worker_stream_lag", "Entries not yet read by the group", labels=["stream"]
        )
        for stream, value in sorted(self.state.lag.items()):
            lag.add_metric([stream], value)
        yield lag
        yield GaugeMetricFamily(
            "abgate_worker_redis_up",
            "1 unless the worker's last Redis call failed or it still waits for Redis at start",
            value=0 if self.state.last_error or not self.state.started else 1,
        )
        yield GaugeMetricFamily(
            "abgate_worker_seconds_since_turn",
            "Seconds since the worker loop last came round",
            value=time.monotonic() - self.state.last_turn if self.state.started else 0.0,
        )


def health_app(stats: ConsumerStats, state: WorkerState) -> web.Application:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WorkerCollector(stats, state))

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        if not state.started:  # alive: it retries with backoff until its own deadline
            starting = state.starting
            return web.json_response(
                {"healthy": True, "pid": os.getpid(), "starting": True, "why": starting.why}
            )
        # Alive while its loop comes round, reading or retrying a Redis error: restarting it
        # would not bring Redis back (abgate_worker_redis_up and the stall alert say that).
        now = time.monotonic()
        since, tried = now - state.last_turn, now - state.last_attempt
        body: dict[str, Any] = {
            "healthy": tried < STALE_S,
            "pid": os.getpid(),
            "seconds_since_turn": round(since, 3),
        }
        if state.last_error:
            body["redis_error"] = state.last_error
        if not body["healthy"]:
            body["why"] = f"the worker loop has not come round for {tried:.0f} s" + (
                f" (last error: {state.last_error})" if state.last_error else ""
            )
        return web.json_response(body, status=200 if body["healthy"] else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def start_health_server(
    stats: ConsumerStats, state: WorkerState, host: str, port: int
) -> web.AppRunner:
    runner = web.AppRunner(health_app(stats, state), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise GatewayError(
            f"--metrics-port {port}: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None

    log.info("worker metrics and health on http://%s:%d", host, port)
    return runner
