"""The dispatcher against a real Redis and a real receiver on loopback: what it reads, what
it signs, how it retries, and what survives a restart."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from gateway.config import load_routing_file
from gateway.control.actors import DECISION_LOOP
from gateway.control.changes import conclude
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis
from gateway.settings import Settings
from gateway.tasks import cancel_and_wait
from gateway.webhooks.backoff import RetryPolicy
from gateway.webhooks.dispatcher import Dispatcher, DispatchSettings
from gateway.webhooks.records import Endpoint
from gateway.webhooks.signing import verify
from gateway.webhooks.store import WebhookStore
from tests.conftest import TEST_CONFIGS
from tests.webhooks.conftest import Receiver

SECRET = "whsec_dispatcher-test-secret"
FAST = DispatchSettings(
    RetryPolicy(attempts=3, base_s=0.05, cap_s=0.2),
    timeout_s=2.0,
    poll_s=0.02,
    alert_interval_s=0.02,
)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = redis_client(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis: Redis, settings: Settings) -> ConfigStore:
    config = ConfigStore(redis, settings.keys)
    await config.seed(load_routing_file(TEST_CONFIGS / "three_experiments.toml"), "test")
    return config


class Running:
    """A dispatcher running in this event loop until ``stop``."""

    def __init__(self, redis: Redis, keys: Keys, settings: DispatchSettings = FAST) -> None:
        self.counts: Counter[str] = Counter()
        self.dispatcher = Dispatcher(WebhookStore(redis, keys), keys, settings, self.counts, "t")
        self.halt = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.dispatcher.run(self.halt))

    async def stop(self) -> None:
        self.halt.set()
        await asyncio.wait_for(asyncio.shield(self.task), 10.0)
        await cancel_and_wait([self.task])


async def _register(
    redis: Redis, keys: Keys, name: str, url: str, events: tuple[str, ...] = ("*",)
) -> Endpoint:
    endpoint = Endpoint(
        name=name, url=url, events=events, secret=SECRET, created_at=time.time(), created_by="t"
    )
    await WebhookStore(redis, keys).register(endpoint, "carol", f"webhook {name} registered")
    return endpoint


async def _move_production(store: ConfigStore, to: str) -> None:
    await store.change(lambda c: replace(c, production=to), actor="carol", reason="by hand")


async def _until(check: Any, limit_s: float = 20.0) -> Any:
    async with asyncio.timeout(limit_s):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.02)


async def test_a_production_move_is_signed_retried_and_logged(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    await _register(redis, keys, "ops", receiver.url, ("production.moved",))
    receiver.statuses = [500]  # the first attempt fails: the second must come
    running = Running(redis, keys)
    try:
        await _move_production(store, "prod-v2")
        first, second = await receiver.wait_for(2)
    finally:
        await running.stop()
    assert first.body == second.body
    assert first.headers["X-Abgate-Delivery"] == second.headers["X-Abgate-Delivery"]
    for request in (first, second):
        assert request.headers["X-Abgate-Event"] == "production.moved"
        assert request.headers["Content-Type"] == "application/json"
        verify(SECRET, request.headers["X-Abgate-Signature"], request.body, now=time.time())
    event = orjson.loads(first.body)
    assert event["type"] == "production.moved"
    assert (event["data"]["from"], event["data"]["to"]) == ("prod-v1", "prod-v2")
    assert event["data"]["actor"] == "carol" and event["data"]["reason"] == "by hand"
    log = await WebhookStore(redis, keys).attempts("ops")
    assert [(a.attempt, a.outcome, a.status) for a in log] == [
        (2, "delivered", 200),
        (1, "retried", 500),
    ]
    assert log[1].next_retry_at is not None and log[1].error == "answered 500"
    assert await WebhookStore(redis, keys).pending() == []
    assert running.counts == Counter({"retried": 1, "delivered": 1})


async def test_only_subscribed_endpoints_registered_before_the_event_get_it(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    await _register(redis, keys, "gates-only", receiver.url + "?who=gates", ("gate.result",))
    await _register(redis, keys, "all", receiver.url + "?who=all")
    running = Running(redis, keys)
    try:
        await _move_production(store, "prod-v2")
        (got,) = await receiver.wait_for(1)
        await _register(redis, keys, "late", receiver.url + "?who=late")
        await _move_production(store, "prod-v3")
        await receiver.wait_for(3)
        await asyncio.sleep(0.3)  # nothing more comes
    finally:
        await running.stop()
    bodies = [orjson.loads(r.body)["data"]["to"] for r in receiver.received]
    assert sorted(bodies) == ["prod-v2", "prod-v3", "prod-v3"]  # "all" twice, "late" once
    assert orjson.loads(got.body)["data"]["to"] == "prod-v2"


async def test_a_failing_endpoint_is_given_up_and_a_removed_one_s_retry_dropped(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    webhooks = WebhookStore(redis, keys)
    await _register(redis, keys, "down", receiver.url)
    receiver.statuses = [503, 503, 503]
    running = Running(redis, keys)
    try:
        await _move_production(store, "prod-v2")
        await receiver.wait_for(3)
        log = await _until(lambda: _settled(webhooks, "down"))
    finally:
        await running.stop()
    assert [(a.attempt, a.outcome) for a in log] == [(3, "failed"), (2, "retried"), (1, "retried")]
    assert running.counts["failed"] == 1 and await webhooks.pending() == []

    # An endpoint removed while its delivery waits for a retry: the retry is dropped.
    await webhooks.remove("down", "carol", "webhook down removed")  # the one endpoint below
    await _register(redis, keys, "gone", receiver.url + "?gone")
    receiver.statuses = [500]
    slow = replace(FAST, policy=RetryPolicy(attempts=3, base_s=0.5, cap_s=1.0))
    running = Running(redis, keys, slow)
    try:
        await _move_production(store, "prod-v3")
        await _until(lambda: _first_try_failed(webhooks, "gone"))
        await webhooks.remove("gone", "carol", "webhook gone removed")
        log = await _until(lambda: _settled(webhooks, "gone"))
    finally:
        await running.stop()
    assert [(a.attempt, a.outcome) for a in log] == [(2, "dropped"), (1, "retried")]
    assert log[0].error == "the endpoint was removed" and await webhooks.pending() == []
    assert running.counts["dropped"] == 1


async def _first_try_failed(webhooks: WebhookStore, name: str) -> bool:
    return [a.outcome for a in await webhooks.attempts(name)] == ["retried"]


async def _settled(webhooks: WebhookStore, name: str) -> Any:
    log = await webhooks.attempts(name)
    return log if log and log[0].outcome in ("failed", "delivered", "dropped") else None


async def test_nothing_is_lost_across_a_restart(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    webhooks = WebhookStore(redis, keys)
    await _register(redis, keys, "r", receiver.url)
    slow = replace(FAST, policy=RetryPolicy(attempts=5, base_s=3600.0))
    first = Running(redis, keys, slow)
    receiver.statuses = [500]
    try:
        await _move_production(store, "prod-v2")
        await receiver.wait_for(1)  # failed; its retry is an hour away
        await _until(webhooks.pending)
    finally:
        await first.stop()
    await _move_production(store, "prod-v3")  # while no dispatcher runs
    second = Running(redis, keys)
    try:
        await receiver.wait_for(3)
        await _until(lambda: _all_delivered(webhooks))
    finally:
        await second.stop()
    tos = [orjson.loads(r.body)["data"]["to"] for r in receiver.received]
    assert sorted(tos) == ["prod-v2", "prod-v2", "prod-v3"]


async def _all_delivered(webhooks: WebhookStore) -> bool:
    return not await webhooks.pending()


async def test_two_dispatchers_send_each_delivery_once(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    await _register(redis, keys, "r", receiver.url)
    both = [Running(redis, keys), Running(redis, keys)]
    try:
        for n in range(2, 6):
            await _move_production(store, f"prod-v{n}")
        await receiver.wait_for(4)
        await asyncio.sleep(0.3)
    finally:
        for running in both:
            await running.stop()
    ids = [r.headers["X-Abgate-Delivery"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 4


async def test_an_evaluation_s_srm_alert_is_sent_once(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    await _register(redis, keys, "alerts", receiver.url, ("alert.srm",))
    running = Running(redis, keys)

    async def evaluate(look: int, blocked: list[str]) -> None:
        record = {
            "experiment": "better",
            "phase": 0,
            "ts": time.time(),
            "look": look,
            "srm_p_value": 1e-7,
            "units": {"control": 800, "treatment": 1200},
            "decision": {"action": "continue", "reasons": ["srm"], "blocked_by": blocked},
            "arms": [],
        }
        await redis.hset(keys.decisions, "better", orjson.dumps(record))

    try:
        await evaluate(1, ["srm"])
        (alert,) = await receiver.wait_for(1)
        await evaluate(2, ["srm"])  # still mismatched: no second alert
        await asyncio.sleep(0.3)
    finally:
        await running.stop()
    assert len(receiver.received) == 1
    event = orjson.loads(alert.body)
    assert alert.headers["X-Abgate-Event"] == "alert.srm"
    assert event["data"]["experiment"] == "better" and event["data"]["srm_p_value"] == 1e-7


async def test_the_final_evaluation_of_a_concluded_phase_is_read_once_more(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    """A rollback for an operational breach concludes the experiment in the same pass that
    stores the evaluation raising it: the alert must still be sent (and the phase then
    forgotten), as must the decision itself."""
    keys = settings.keys
    webhooks = WebhookStore(redis, keys)
    await _register(redis, keys, "oncall", receiver.url, ("alert.guardrail", "decision"))
    running = Running(redis, keys)
    try:
        await _until(lambda: _follows(webhooks, "worse"))  # seen live, no evaluation yet
        record = {
            "experiment": "worse",
            "phase": 0,
            "ts": time.time(),
            "look": 1,
            "decision": {
                "action": "rollback",
                "reasons": ["operational guardrail: candidate fails 40% of its searches"],
                "blocked_by": [],
            },
            "arms": [],
        }
        await redis.hset(keys.decisions, "worse", orjson.dumps(record))
        await store.change(
            lambda c: conclude(c, "worse", "control", "rolled_back"),
            actor=DECISION_LOOP,
            reason="operational guardrail: candidate fails 40% of its searches",
        )
        got = await receiver.wait_for(2)
        await _until(lambda: _forgotten(webhooks, "worse"))
    finally:
        await running.stop()
    by_type = {r.headers["X-Abgate-Event"]: orjson.loads(r.body) for r in got}
    assert by_type["alert.guardrail"]["data"]["alert"] == "operational"
    assert by_type["decision"]["data"]["outcome"] == "rolled_back"


async def _follows(webhooks: WebhookStore, stats_id: str) -> bool:
    return stats_id in await webhooks.alert_state()


async def _forgotten(webhooks: WebhookStore, stats_id: str) -> bool:
    return stats_id not in await webhooks.alert_state()


async def test_a_redis_outage_holds_deliveries_back_and_loses_none(
    own_redis: EmbeddedRedis, receiver: Receiver, prefix: str
) -> None:
    keys = Keys(prefix)
    redis = redis_client(own_redis.url)
    store = ConfigStore(redis, keys)
    await store.seed(load_routing_file(TEST_CONFIGS / "three_experiments.toml"), "test")
    await _register(redis, keys, "r", receiver.url)
    receiver.statuses = [500]
    patient = replace(FAST, policy=RetryPolicy(attempts=8, base_s=0.3, cap_s=0.6))
    running = Running(redis, keys, patient)
    try:
        await _move_production(store, "prod-v2")
        await receiver.wait_for(1)  # answered 500: a retry is due shortly
        own_redis.stop()
        await asyncio.sleep(1.5)  # the retry comes due with Redis down
        assert not running.task.done()
        own_redis.start()
        await receiver.wait_for(2)
        await _until(lambda: _all_delivered(WebhookStore(redis, keys)))
    finally:
        await running.stop()
        await redis.aclose()
    first, second = receiver.received
    assert first.body == second.body
    assert running.counts["delivered"] == 1


async def test_an_unreadable_delivery_holds_back_no_other(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    keys = settings.keys
    await redis.hset(keys.webhook_pending, "unreadable", b"{not json")
    await _register(redis, keys, "r", receiver.url)
    running = Running(redis, keys)
    try:
        await _move_production(store, "prod-v2")
        (got,) = await receiver.wait_for(1)
    finally:
        await running.stop()
    assert orjson.loads(got.body)["data"]["to"] == "prod-v2"
    assert not running.task.cancelled() and running.task.exception() is None


async def test_a_phase_concluded_before_it_was_seen_live_still_sends_its_alert(
    redis: Redis, settings: Settings, store: ConfigStore, receiver: Receiver
) -> None:
    """The experiment starts and is rolled back between two reads of the evaluations (here:
    while no dispatcher runs): the decision in the audit trail has its phase read once."""
    keys = settings.keys
    await _register(redis, keys, "oncall", receiver.url, ("alert.guardrail",))
    record = {
        "experiment": "worse",
        "phase": 0,
        "ts": time.time(),
        "look": 1,
        "decision": {"action": "rollback", "reasons": ["operational guardrail: p99 x4"]},
        "arms": [],
    }
    await redis.hset(keys.decisions, "worse", orjson.dumps(record))
    await store.change(
        lambda c: conclude(c, "worse", "control", "rolled_back"),
        actor=DECISION_LOOP,
        reason="operational guardrail: p99 x4",
    )
    running = Running(redis, keys)
    try:
        (got,) = await receiver.wait_for(1)
        await _until(lambda: _forgotten(WebhookStore(redis, keys), "worse"))
    finally:
        await running.stop()
    event = orjson.loads(got.body)
    assert (event["type"], event["data"]["alert"]) == ("alert.guardrail", "operational")
