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
from typing import Final

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

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS: Final = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5,
    1.0, 2.5,
)  # fmt: skip

SEARCHES = Counter(
    "abgate_searches", "Searches answered, by outcome", ["outcome"]
)  # ok, fallback (a treatment failed: production answered), error, shed, unavailable, bad_request
EVENTS = Counter("abgate_events", "Event requests answered, by outcome", ["outcome"])
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
BATCH_REJECTED = Counter(
    "abgate_batch_rejected", "Requests refused because a version's batch queue was full",
    ["model_version"],
)  # fmt: skip
SINK_EVENTS = Counter(
    "abgate_sink_records",
    "Exposure and outcome records: accepted, written to Redis, spooled to disk, replayed",
    ["stage"],
)
REFUSED = Counter(
    "abgate_refused",
    "Requests refused for their credentials: no_token, bad_token, or role (too low a role)",
    ["reason"],
)
INTERNAL_ERRORS = Counter("abgate_internal_errors", "Requests answered 500 (a defect)")
CONFIG_VERSION = Gauge(
    "abgate_config_version", "Routing config version applied", multiprocess_mode="livemax"
)
MODELS_LOADED = Gauge(
    "abgate_models_loaded", "Model versions loaded in a process", multiprocess_mode="livemax"
)


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
