"""Stream retention against real Redis: only acknowledged entries older than the retention
go; pending and unread ones stay whatever their age."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.worker.aggregates import EventTtls
from gateway.worker.consumer import GROUP, StreamConsumer
from gateway.worker.retention import trim_streams
from tests.worker.entries import exposure, outcome


async def _ids(redis: Redis, stream: str) -> list[str]:
    return [i.decode() for i, _ in await redis.xrange(stream)]


async def test_only_acknowledged_old_entries_are_trimmed(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    stream = keys.shard(0).exposures
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ids = [f"{1000 + i}-0" for i in range(10)]  # ten entries at t = 1.000 … 1.009 s
    for entry_id in ids:
        await redis.xadd(stream, {"e": b"{}"}, id=entry_id)
    # The worker read the first six; acknowledged 0-2 and 4-5; entry 3 is still pending.
    await redis.xreadgroup(GROUP, "w", {stream: ">"}, count=6)
    await redis.xack(stream, GROUP, *ids[:3], *ids[4:6])
    # A retention that keeps everything from t = 1.005 s: entry 3 is pending, so 3… stay.
    removed = await trim_streams(redis, keys, 0.0, now_ms=1005, approximate=False)
    assert removed[stream] == 3 and await _ids(redis, stream) == ids[3:]
    await redis.xack(stream, GROUP, ids[3])
    # Now 3, 4 and 5 are acknowledged, but 6… were never read: they stay.
    removed = await trim_streams(redis, keys, 0.0, now_ms=10**13, approximate=False)
    assert removed[stream] == 2 and await _ids(redis, stream) == ids[5:]
    # Entries newer than the retention stay even when acknowledged.
    await redis.xreadgroup(GROUP, "w", {stream: ">"}, count=10)
    await redis.xack(stream, GROUP, *ids[5:])
    removed = await trim_streams(redis, keys, retention_s=0.002, now_ms=1009, approximate=False)
    assert await _ids(redis, stream) == ids[7:]


async def test_a_real_clock_and_no_stream_yet(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    assert await trim_streams(redis, keys, 60.0, now_ms=int(time.time() * 1000)) == {}


async def test_a_concluded_experiments_user_keys_expire_once(redis: Redis, prefix: str) -> None:
    from gateway.config import parse_routing
    from gateway.worker.retention import expire_concluded

    keys = Keys(prefix)

    def experiment(key: str, status: str) -> dict[str, object]:
        return {
            "key": key,
            "status": status,
            "variants": [
                {"name": "a", "model_version": "m", "weight": 0.5},
                {"name": "b", "model_version": "m", "weight": 0.5},
            ],
        }

    config = parse_routing(
        {"production": "m", "experiments": [experiment("done", "concluded"),
                                            experiment("done-2", "running")]}
    )  # fmt: skip
    for user in ("u1", "u2"):
        await redis.hset(keys.shard(0).unit("done", user), "variant", "a")  # phase 0
        await redis.hset(keys.shard(0).unit("done@1", user), "variant", "b")  # phase 1
        await redis.hset(keys.shard(0).unit("done-2", user), "variant", "a")  # running: another key
    await redis.hset(keys.shard(0).stats("done"), "a:users", 2)
    await redis.zadd(keys.shard(0).interleaving("done@1") + ":active", {"u1": 1.0})
    await redis.hset(keys.shard(0).interleaving("done@1"), "searches", 3)
    assert await expire_concluded(redis, keys, config, 3600) == {"done": 5}
    assert 0 < await redis.ttl(keys.shard(0).interleaving("done@1") + ":active") <= 3600
    assert await redis.ttl(keys.shard(0).interleaving("done@1")) == -1  # its counts stay
    for user in ("u1", "u2"):
        assert 0 < await redis.ttl(keys.shard(0).unit("done", user)) <= 3600
        assert 0 < await redis.ttl(keys.shard(0).unit("done@1", user)) <= 3600
        assert await redis.ttl(keys.shard(0).unit("done-2", user)) == -1  # no TTL
    assert await redis.ttl(keys.shard(0).stats("done")) == -1  # the results stay
    assert await expire_concluded(redis, keys, config, 3600) == {}  # once


async def test_the_search_and_event_id_windows_are_the_settings(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "c1", ttls=EventTtls(seen_s=300, search_s=120))
    await consumer.setup()
    await redis.xadd(keys.shard(0).exposures, exposure("s1", "ann"))
    await redis.xadd(keys.shard(0).outcomes, outcome("c1", "s1", user="ann"))
    await consumer.step(block_ms=None)
    await consumer.step(block_ms=None)
    assert consumer.stats.exposures == 1 and consumer.stats.outcomes == 1
    assert 290 <= await redis.ttl(keys.shard(0).seen("s1")) <= 300
    assert 290 <= await redis.ttl(keys.shard(0).seen("s1", "c1")) <= 300
    assert 110 <= await redis.ttl(keys.shard(0).search("s1")) <= 120


async def test_housekeeping_runs_beside_the_evaluations(redis: Redis, prefix: str) -> None:
    """The worker's housekeeping is a task of its own (expiring a large experiment's keys
    scans the keyspace; evaluations must not wait for it): it gives a concluded experiment's
    user keys their time to live and stops when told."""
    import asyncio
    from dataclasses import replace

    from gateway.config import parse_routing
    from gateway.control.store import ConfigStore
    from gateway.settings import Settings
    from gateway.worker.service import WorkerState, _housekeeping

    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    done = {"key": "done", "status": "concluded",
            "variants": [{"name": "a", "model_version": "m", "weight": 0.5},
                         {"name": "b", "model_version": "m", "weight": 0.5}]}  # fmt: skip
    await store.seed(parse_routing({"production": "m", "experiments": [done]}), "test")
    await redis.hset(keys.shard(0).unit("done", "u1"), "variant", "a")
    settings = replace(Settings.from_env(), prefix=prefix, unit_grace_s=600.0)
    stop = asyncio.Event()
    task = asyncio.create_task(_housekeeping(redis, keys, store, settings, WorkerState(), stop))
    for _ in range(100):
        if await redis.ttl(keys.shard(0).unit("done", "u1")) > 0:
            break
        await asyncio.sleep(0.05)
    assert 0 < await redis.ttl(keys.shard(0).unit("done", "u1")) <= 600
    stop.set()
    await asyncio.wait_for(task, 5.0)
