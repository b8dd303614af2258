"""The gateway's Prometheus metrics, one registry for every process of a deployment.

``abgate serve`` gives its gateway processes one fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` (:func:`fresh_metrics_dir`); prometheus_client then keeps
each process's values in memory-mapped files there, and a scrape of any process
(``GET /metrics``) sums them over every process (gauges: the largest live value). A
process started without it (the in-process tests) keeps its own registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from gateway.config import INTERLEAVED_ARM, RoutingConfig
from gateway.config.holdout import HOLDOUT_ARM, REST_ARM
from gateway.records import OUTCOME_TYPES

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS: Final = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5,
    1.0, 2.5,
)  # fmt: skip

# The values a label can take, where they are known before anything happens: every series of
# these is made at zero when a process starts (AT_START), so a panel tells zero from missing.
# fallback: a treatment failed and production answered; error: any other 5xx.
SearchOutcome = Literal[
    "ok", "fallback", "bad_request", "error", "shed", "unavailable", "no_production"
]
EventRequestOutcome = Literal["ok", "bad_request", "error", "shed", "unavailable"]
ErrorKind = Literal[
    "bad_request", "unauthorized", "shed", "unavailable", "inference_failed", "internal"
]
RefusalReason = Literal["no_token", "bad_token", "revoked_token", "role"]
SinkStage = Literal["accepted", "rejected", "written", "spooled", "replayed"]
ClosedReason = Literal["header_timeout", "evicted", "refused"]
NO_VERSION: Final = "none"  # abgate_search_seconds of a search that no version answered

SEARCHES = Counter("abgate_searches", "Searches answered, by outcome", ["outcome"])
EVENT_REQUESTS = Counter(
    "abgate_event_requests",
    "Event requests answered (one holds one or more events), by outcome",
    ["outcome"],
)
EVENTS = Counter(
    "abgate_events", "Events accepted (clicks, add-to-carts, purchases), by type", ["type"]
)
SEARCH_SECONDS = Histogram(
    "abgate_search_seconds",
    "Time from a search's arrival to its answer, by the model version that served it",
    ["model_version"],
    buckets=LATENCY_BUCKETS,
)
BATCH_REQUESTS = Histogram(
    "abgate_batch_requests",
    "Requests merged into one model run, by version",
    ["model_version"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
QUEUE_WAIT_SECONDS = Histogram(
    "abgate_batch_queue_wait_seconds",
    "Time a request waited in its version's batch queue",
    ["model_version"],
    buckets=LATENCY_BUCKETS,
)
BATCH_PAIRS = Counter(
    "abgate_batch_pairs", "(query, candidate) pairs scored, by version", ["model_version"]
)
BATCH_FAILURES = Counter(
    "abgate_batch_failures", "Model runs that failed (each fails its requests)", ["model_version"]
)
BATCH_REJECTED = Counter(
    "abgate_batch_rejected", "Requests refused because a version's batch queue was full",
    ["model_version"],
)  # fmt: skip
MISSING_FEATURES = Counter(
    "abgate_missing_features",
    "Searches a treatment could not rank for features they lacked (production served them)",
    ["model_version"],
)
SINK_EVENTS = Counter(
    "abgate_sink_records",
    "Exposure and outcome records: accepted, rejected (buffer full), written to Redis, "
    "spooled to disk, replayed",
    ["stage"],
)
SINK_REDIS_FAILURES = Counter(
    "abgate_sink_redis_failures", "Flushes to Redis that failed (their records were spooled)"
)
REFUSED = Counter(
    "abgate_refused",
    "Requests refused for their credentials: no_token, bad_token, revoked_token, or role "
    "(too low a role)",
    ["reason"],
)
ERRORS = Counter(
    "abgate_errors",
    "Requests answered with an error, by kind: bad_request (any 4xx), unauthorized, shed (a "
    "full queue), unavailable (Redis down, draining), inference_failed, internal (a defect)",
    ["kind"],
)
CONNECTIONS_CLOSED = Counter(
    "abgate_connections_closed",
    "Connections the gateway closed: header_timeout (no complete request in time), evicted "
    "(idle longest when the cap was reached), refused (over the cap, none idle)",
    ["reason"],
)
CONFIG_VERSION = Gauge(
    "abgate_config_version", "Routing config version applied", multiprocess_mode="livemax"
)
MODELS_LOADED = Gauge(
    "abgate_models_loaded", "Model versions loaded in a process", multiprocess_mode="livemax"
)
# The running experiments' arms (the holdout's two included), labelled by experiment key (the
# holdout's stats id) and variant: label values come from the routing config only, never from a
# request, so the series are bounded by the arms run since the process started.
EXPERIMENT_EXPOSURES = Counter(
    "abgate_experiment_exposures",
    "Searches answered for a user in a running experiment's arm, by experiment and variant",
    ["experiment", "variant"],
)
EXPERIMENT_EVENTS = Counter(
    "abgate_experiment_events",
    "Events accepted from users in a running experiment's arm (the arm the current config "
    "routes the user to: assignment is sticky), by experiment, variant and type",
    ["experiment", "variant", "type"],
)
SEARCHES_IN_FLIGHT = Gauge(
    "abgate_searches_in_flight",
    "Searches in progress (summed over the live processes)",
    multiprocess_mode="livesum",
)
LOOP_LAG_SECONDS = Gauge(
    "abgate_loop_lag_seconds",
    "How far behind its schedule a process's event loop runs (the largest over the live "
    "processes; searches are shed past ABGATE_MAX_LAG_MS)",
    multiprocess_mode="livemax",
)
REDIS_UP = Gauge(
    "abgate_redis_up",
    "1 while the config poll reaches Redis, 0 while it fails (the least over the live "
    "processes: 0 when any process cannot reach it)",
    multiprocess_mode="livemin",
)

Labelled = Counter | Histogram

# Each labelled metric with the label values it has from a process's start, at zero.
AT_START: Final[tuple[tuple[Labelled, tuple[str, ...]], ...]] = (
    (SEARCHES, get_args(SearchOutcome)),
    (EVENT_REQUESTS, get_args(EventRequestOutcome)),
    (EVENTS, OUTCOME_TYPES),
    (ERRORS, get_args(ErrorKind)),
    (REFUSED, get_args(RefusalReason)),
    (SINK_EVENTS, get_args(SinkStage)),
    (CONNECTIONS_CLOSED, get_args(ClosedReason)),
    (SEARCH_SECONDS, (NO_VERSION,)),
)
# The metrics labelled by model version: at zero for a version once a process loads it.
PER_VERSION: Final[tuple[Labelled, ...]] = (
    SEARCH_SECONDS,
    BATCH_REQUESTS,
    QUEUE_WAIT_SECONDS,
    BATCH_PAIRS,
    BATCH_FAILURES,
    BATCH_REJECTED,
    MISSING_FEATURES,
)


def series_at_start() -> None:
    """Make every series of AT_START at zero in this process (in a shared metrics directory,
    in this process's own file), so a scrape shows it before its first count."""
    for metric, values in AT_START:
        for value in values:
            metric.labels(value)


def series_of_version(version: str) -> None:
    """Make the series of a model version this process has loaded, at zero."""
    for metric in PER_VERSION:
        metric.labels(version)


def running_arms(config: RoutingConfig) -> tuple[tuple[str, str], ...]:
    """(experiment, variant) of every arm a search can be counted under with this config:
    each running experiment's variants (an interleaved one's single arm), and the active
    holdout's two arms under its stats id."""
    arms = [
        (e.key, variant)
        for e in config.running
        for variant in ((INTERLEAVED_ARM,) if e.interleaved else (v.name for v in e.variants))
    ]
    holdout = config.holdout
    if holdout is not None and holdout.active:
        arms += [(holdout.stats_id, HOLDOUT_ARM), (holdout.stats_id, REST_ARM)]
    return tuple(arms)


def config_applied(version: int, config: RoutingConfig) -> None:
    """A process applied a routing config: its version, and its running arms' series at zero
    (exposures, and events of each type), so that a new arm's panel starts at 0."""
    CONFIG_VERSION.set(version)
    for experiment, variant in running_arms(config):
        EXPERIMENT_EXPOSURES.labels(experiment, variant)
        for kind in OUTCOME_TYPES:
            EXPERIMENT_EVENTS.labels(experiment, variant, kind)


def _samples(metric: Counter | Histogram) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in metric.collect()
        for sample in family.samples
    }


class Since:
    """This process's values of some metrics since this object was made: a component's own
    counts (one batcher, one sink), read from the one registry rather than kept twice."""

    def __init__(self, *tracked: Counter | Histogram) -> None:
        self._tracked = tracked
        self._base = self._now()

    def _now(self) -> dict[tuple[str, tuple[str, ...]], float]:
        merged: dict[tuple[str, tuple[str, ...]], float] = {}
        for metric in self._tracked:
            merged.update(_samples(metric))
        return merged

    def get(self, sample: str, *labels: str) -> int:
        key = (sample, labels)
        return round(self._now().get(key, 0.0) - self._base.get(key, 0.0))


def own(counter: Counter) -> dict[str, float]:
    """This process's values of a counter, by its first label's value ('' when unlabelled)."""
    values: dict[str, float] = {}
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = next(iter(sample.labels.values()), "")
                values[key] = values.get(key, 0.0) + sample.value
    return values


def own_counts() -> dict[str, int]:
    """This process's request counters (``/metrics.json``), read from the registry."""
    searches, errors = own(SEARCHES), own(ERRORS)
    return {
        "searches": int(searches.get("ok", 0) + searches.get("fallback", 0)),
        "fallbacks": int(searches.get("fallback", 0)),
        "search_errors": int(errors.get("inference_failed", 0)),
        "events": int(sum(own(EVENTS).values())),
        "bad_requests": int(errors.get("bad_request", 0)),
        "unauthorized": int(errors.get("unauthorized", 0)),
        "shed": int(errors.get("shed", 0)),
        "unavailable": int(errors.get("unavailable", 0)),
        "internal_errors": int(errors.get("internal", 0)),
    }


def render() -> tuple[bytes, str]:
    """The scrape: every process's values when they share a directory, else this one's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def fresh_metrics_dir(var_dir: Path, name: str) -> Path:
    """An empty directory for one deployment's processes (a new start forgets the old values,
    as prometheus_client's multi-process mode requires)."""
    path = var_dir / "metrics" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
