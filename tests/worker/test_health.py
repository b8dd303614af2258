"""The worker's /metrics: series whose labels are known from the start are there at zero."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from gateway.worker.consumer import ConsumerStats
from gateway.worker.health import WorkerCollector, WorkerState


def _scrape(state: WorkerState) -> str:
    registry = CollectorRegistry()
    registry.register(WorkerCollector(ConsumerStats(), state))
    return generate_latest(registry).decode()


def test_webhook_deliveries_are_counted_by_outcome_from_zero() -> None:
    state = WorkerState()
    text = _scrape(state)
    for outcome in ("delivered", "retried", "failed", "dropped"):
        assert f'abgate_webhook_deliveries_total{{outcome="{outcome}"}} 0.0' in text
    state.webhooks["delivered"] += 2
    state.webhooks["retried"] += 1
    text = _scrape(state)
    assert 'abgate_webhook_deliveries_total{outcome="delivered"} 2.0' in text
    assert 'abgate_webhook_deliveries_total{outcome="retried"} 1.0' in text
