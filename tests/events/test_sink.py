"""No acknowledged event is lost through a Redis outage (invariant 3), against a real redis-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from redis.asyncio import Redis

from gateway.events.sink import EventSink, SinkPolicy
from gateway.events.spool import Spool
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis
from tests.faults import ReplyDelayProxy


def _records(start: int, n: int) -> list[tuple[str, bytes]]:
    return [("s", orjson.dumps({"event_id": f"e{i}"})) for i in range(start, start + n)]


async def _ids(redis: Redis) -> list[str]:
    return [orjson.loads(f[b"e"])["event_id"] for _, f in await redis.xrange("s")]


async def _until(predicate, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_events_acknowledged_during_an_outage_arrive_exactly_once_after_dedup(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    redis = redis_client(own_redis.url)
    sink = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy(replay_interval_s=0.1))
    sink.start()
    try:
        sink.put_many(_records(0, 500))
        await _until(lambda: _count(redis, 500))
        own_redis.stop()
        sink.put_many(_records(500, 700))  # acknowledged while Redis is down
        await _until(lambda: _spooled(sink, 700))
        assert not sink.redis_ok
        own_redis.start()
        sink.put_many(_records(1200, 300))
        await _until(lambda: _unique(redis, 1500))
    finally:
        await sink.close()
        await redis.aclose()
    check = redis_client(own_redis.url)
    ids = await _ids(check)
    await check.aclose()
    assert set(ids) == {f"e{i}" for i in range(1500)}
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # replayed files are removed


async def test_graceful_close_with_redis_down_spools_and_a_later_process_replays(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    redis = redis_client(own_redis.url)
    sink = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy(flush_interval_s=10.0))
    sink.start()
    own_redis.stop()
    sink.put_many(_records(0, 50))
    await sink.close()
    await redis.aclose()
    assert list((tmp_path / "spool").glob("*.jsonl"))
    own_redis.start()
    redis = redis_client(own_redis.url)
    successor = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy())
    assert await successor.replay() == 50
    assert sorted(await _ids(redis)) == sorted(f"e{i}" for i in range(50))
    await redis.aclose()


async def _count(redis: Redis, n: int) -> bool:
    return int(await redis.xlen("s")) >= n


async def _unique(redis: Redis, n: int) -> bool:
    try:
        return len(set(await _ids(redis))) >= n
    except OSError:
        return False


async def _spooled(sink: EventSink, n: int) -> bool:
    return sink.count("spooled") >= n


async def test_close_while_a_write_is_in_flight_loses_nothing_and_duplicates_nothing(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    proxy = await ReplyDelayProxy(own_redis.port).start()
    redis = redis_client(proxy.url)
    await redis.ping()  # connected before replies are held back
    proxy.delay_s = 0.6
    sink = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy(flush_interval_s=0.01))
    sink.start()
    tasks = list(sink._tasks)
    sink.put_many(_records(0, 300))
    await asyncio.sleep(0.2)  # written by Redis, its reply still on the way
    await sink.close()
    assert all(t.done() for t in tasks), "a flush task runs on after close()"
    await redis.aclose()
    await proxy.close()
    check = redis_client(own_redis.url)
    ids = await _ids(check)
    await check.aclose()
    assert sorted(ids) == sorted(f"e{i}" for i in range(300)), "lost or duplicated"
    assert not list((tmp_path / "spool").glob("*.jsonl"))


async def test_a_durable_put_returns_once_its_records_are_in_redis_and_puts_share_writes(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    proxy = await ReplyDelayProxy(own_redis.port).start()
    redis = redis_client(proxy.url)
    await redis.ping()
    proxy.delay_s = 0.2  # each write's reply is late: puts arriving meanwhile wait together
    check = redis_client(own_redis.url)
    sink = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy(durable=True))
    sink.start()
    try:

        async def put(i: int) -> bool:
            await sink.put(_records(i, 1))
            return f"e{i}" in await _ids(check)  # in Redis by the time the put returned

        results = await asyncio.gather(*(put(i) for i in range(60)))
        assert all(results)
        assert 1 <= sink.writes < 60 / 4  # group commit: many requests per write
    finally:
        await sink.close()
        await redis.aclose()
        await proxy.close()
    assert sorted(await _ids(check)) == sorted(f"e{i}" for i in range(60))
    await check.aclose()


async def test_a_durable_put_with_redis_down_returns_once_fsynced_to_the_spool(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    redis = redis_client(own_redis.url)
    own_redis.stop()
    sink = EventSink(redis, Spool(tmp_path / "spool"), SinkPolicy(durable=True))
    sink.start()
    try:
        await sink.put(_records(0, 5))
        lines = b"".join(p.read_bytes() for p in (tmp_path / "spool").glob("*.jsonl"))
        assert lines.count(b"\n") == 5 and sink.count("spooled") == 5
    finally:
        await sink.close()
        await redis.aclose()
