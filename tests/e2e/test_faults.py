"""The fault suite: nothing acknowledged is lost, nothing is counted twice, and searches are
served throughout, while Redis, the worker or a gateway fails under load.

Each test runs two gateway processes and the worker against a redis-server of its own (AOF,
``appendfsync always``) and shoppers that search and click over real HTTP for a few seconds
while the fault is injected. Every event the gateway answered 2xx must be applied by the worker
(its ``seen`` key exists) and every click counted once: the experiment's click sum equals the
number of distinct click events applied (sent events that were not acknowledged may or may not
have arrived; a retry of one is de-duplicated). Loopback only, bounded in time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest

from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis
from gateway.settings import Settings
from gateway.variant_stats import read_variant_stats
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import System, running_system
from tests.live import gateway_env
from tests.tokens import seed_tokens

SHOPPERS = 8
APPLY_WAIT_S = 90.0


@dataclass
class Ledger:
    """What the shoppers sent and what the gateways acknowledged."""

    searches: dict[str, str] = field(default_factory=dict)  # acknowledged search id -> user
    clicks: dict[str, str] = field(default_factory=dict)  # acknowledged click id -> user
    sent: dict[str, str] = field(default_factory=dict)  # every click id sent -> user
    served_at: list[float] = field(default_factory=list)  # monotonic times of served searches
    refused: int = 0  # answers other than 2xx (e.g. 503 while shedding)
    broken: int = 0  # connections that failed (a process going away)


async def _shopper(base: str, n: int, ledger: Ledger, stop: asyncio.Event) -> None:
    rng = random.Random(n)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        i = 0
        while not stop.is_set():
            i += 1
            user = f"shopper-{n}-{rng.randrange(400)}"
            try:
                body = {"user_id": user, "query": "shoes", "candidates": list(range(1, 21))}
                async with session.post(base + "/v1/search", json=body) as response:
                    if response.status != 200:
                        ledger.refused += 1
                        continue
                    answer = await response.json()
                search_id = answer["search_id"]
                ledger.searches[search_id] = user
                ledger.served_at.append(time.monotonic())
                click = {
                    "event_id": f"{search_id}-c",
                    "type": "click",
                    "search_id": search_id,
                    "user_id": user,
                    "item_id": answer["results"][0]["item_id"],
                }
                ledger.sent[click["event_id"]] = user
                async with session.post(base + "/v1/events", json=click) as response:
                    if response.status == 202:
                        ledger.clicks[click["event_id"]] = user
                    else:
                        ledger.refused += 1
            except (aiohttp.ClientError, TimeoutError, OSError):
                ledger.broken += 1
                await asyncio.sleep(0.05)


async def _under_load(
    system: System, fault: Callable[[], Awaitable[None]], before_s: float = 2.0
) -> Ledger:
    """Shoppers for ``before_s``, then the fault (awaited), then two more seconds of them."""
    ledger = Ledger()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_shopper(system.base_url, n, ledger, stop)) for n in range(SHOPPERS)
    ]
    try:
        await asyncio.sleep(before_s)
        await fault()
        await asyncio.sleep(2.0)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=15.0)
    for task in tasks:
        assert task.done() and task.exception() is None, task
    return ledger


def _search_of(click_id: str) -> str:
    return click_id.removesuffix("-c")  # the shoppers' click ids: f"{search_id}-c"


@dataclass(frozen=True)
class Tally:
    acknowledged: int
    lost: int
    applied_clicks: int
    counted_clicks: int


async def _tally(settings: Settings, ledger: Ledger, wait_s: float = APPLY_WAIT_S) -> Tally:
    """Wait until the worker has applied every acknowledged event (or ``wait_s``), then count."""
    assert settings.redis_url
    redis = redis_client(settings.redis_url)
    keys = settings.keys
    # The worker's de-duplication key of each: a search's own, a click's within its search.
    acknowledged = {
        **{keys.for_user(user).seen(sid): sid for sid, user in ledger.searches.items()},
        **{keys.for_user(user).seen(_search_of(e), e): e for e, user in ledger.clicks.items()},
    }
    try:
        deadline = time.monotonic() + wait_s
        missing = list(acknowledged)
        for _ in range(int(wait_s / 0.5) + 1):
            pipe = redis.pipeline(transaction=False)
            for seen in missing:
                pipe.exists(seen)
            found = await pipe.execute()
            missing = [e for e, ok in zip(missing, found, strict=True) if not ok]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        pipe = redis.pipeline(transaction=False)
        for event_id, user in ledger.sent.items():
            pipe.exists(keys.for_user(user).seen(_search_of(event_id), event_id))
        applied = sum(await pipe.execute())
        stats = await read_variant_stats(redis, keys, "f")
        counted = sum(v.get("clicks", 0) for v in stats.values())
    finally:
        await redis.aclose()
    return Tally(len(acknowledged), len(missing), applied, counted)


def _served_throughout(ledger: Ledger) -> float:
    """The longest time without a served search while the shoppers ran."""
    times = sorted(ledger.served_at)
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


@contextmanager
def _system(settings: Settings, redis: EmbeddedRedis, **env: str) -> Iterator[System]:
    on_own = replace(settings, redis_url=redis.url, routing_file=TEST_CONFIGS / "faults.toml")
    seed_tokens(redis.url, settings.prefix)
    with running_system(on_own, worker=True, extra_env=env) as system:
        yield system


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own that fsyncs its AOF before it replies."""
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always").start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def _process(system: System, name: str) -> int:
    return next(p.pid for n, p in system.group.processes if n == name)


MAX_GAP_S = 2.0  # searches are served throughout: never this long without one


def _check(tally: Tally, ledger: Ledger) -> None:
    assert tally.acknowledged > 200, (tally, ledger.refused, ledger.broken)
    assert tally.lost == 0, tally  # every acknowledged search and click was applied
    assert tally.counted_clicks == tally.applied_clicks, tally  # and counted once
    assert _served_throughout(ledger) < MAX_GAP_S


Fault = Callable[[System], Awaitable[None]]


async def _survive(
    settings: Settings, redis: EmbeddedRedis, fault: Fault, wait_s: float = APPLY_WAIT_S, **env: str
) -> tuple[Tally, Ledger]:
    """Run the system, inject ``fault`` under load, count what was answered and applied."""
    with _system(settings, redis, **env) as system:
        ledger = await _under_load(system, lambda: fault(system))
        tally = await _tally(system.settings, ledger, wait_s)
    return tally, ledger


async def test_redis_killed_with_sigkill_under_load_and_restarted(
    settings: Settings, durable_redis: EmbeddedRedis
) -> None:
    async def fault(_: System) -> None:
        assert durable_redis.process is not None
        durable_redis.process.send_signal(signal.SIGKILL)
        durable_redis.process.wait()
        await asyncio.sleep(3.0)  # the gateways spool, the worker retries
        await asyncio.to_thread(durable_redis.start)  # same port, its AOF replayed

    _check(*await _survive(settings, durable_redis, fault))


async def test_redis_paused_for_30_s_under_load(
    settings: Settings, durable_redis: EmbeddedRedis
) -> None:
    async def fault(_: System) -> None:
        assert durable_redis.process is not None
        durable_redis.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(30.0)
        finally:
            durable_redis.process.send_signal(signal.SIGCONT)

    _check(*await _survive(settings, durable_redis, fault))


async def test_the_worker_killed_and_restarted_under_load(
    settings: Settings, durable_redis: EmbeddedRedis
) -> None:
    async def fault(system: System) -> None:
        os.kill(_process(system, "worker"), signal.SIGKILL)
        await asyncio.sleep(1.0)
        # The same name: the new worker re-reads what the old one read but never acknowledged.
        system.group.spawn("worker", ["worker", "--interval", "1"], gateway_env(system.settings, 0))

    _check(*await _survive(settings, durable_redis, fault))


async def test_a_gateway_stopped_with_sigterm_under_load(
    settings: Settings, durable_redis: EmbeddedRedis
) -> None:
    async def fault(system: System) -> None:
        os.kill(_process(system, "gateway-0"), signal.SIGTERM)  # gateway-1 goes on

    _check(*await _survive(settings, durable_redis, fault))


@pytest.mark.parametrize("ack", ["durable", "buffered"])
async def test_a_gateway_killed_with_sigkill_under_load(
    ack: str,
    settings: Settings,
    durable_redis: EmbeddedRedis,
    record_property: Callable[[str, object], None],
) -> None:
    """``ABGATE_ACK=durable``: an event is answered once it is in Redis or the fsync'd spool,
    so a hard kill loses nothing. The default answers once buffered: a hard kill loses what
    the buffer held (at most one 20 ms flush window), measured here and reported."""

    async def fault(system: System) -> None:
        os.kill(_process(system, "gateway-0"), signal.SIGKILL)

    wait_s = 10.0 if ack == "buffered" else APPLY_WAIT_S  # the buffered loss never arrives
    tally, ledger = await _survive(settings, durable_redis, fault, wait_s, ABGATE_ACK=ack)
    record_property("lost", tally.lost)
    print(
        f"\nSIGKILL of a gateway, ack={ack}: {tally.lost} of {tally.acknowledged} acknowledged lost"
    )
    assert tally.counted_clicks == tally.applied_clicks, tally
    assert _served_throughout(ledger) < MAX_GAP_S
    if ack == "durable":
        assert tally.lost == 0, tally
