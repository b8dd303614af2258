"""``make bench``: how many events one worker applies per second, against how many one
gateway process produces at capacity, measured in the same run.

The baseline: one gateway process (`serve-one`, core 0) answering one-click event batches
from wrk (core 1) closed loop: each answered event is one outcome entry for the worker. The
worker: a backlog of searches (exposure entries) and their clicks, add-to-carts and purchases
(outcome entries) written to the streams of an embedded Redis (core 1) the way gateways write
them, then drained by ``StreamConsumer`` (the worker's reader, the real Lua scripts) on core 0
until every entry is applied; entries per second of wall time.

    python -m bench.worker [--searches 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time

import orjson
from redis.asyncio import Redis

from bench.report import publish
from bench.throughput import (
    CLIENT_CORE,
    SERVER_CORE,
    click_for,
    gateway_env,
    measure,
    on_core,
    site,
)
from gateway.keys import Keys
from gateway.processes import wait_ready
from gateway.records import AssignmentRecord, ExposureRecord, OutcomeRecord
from gateway.redis_client import redis_client
from gateway.redis_server import free_port
from gateway.worker.consumer import GROUP, StreamConsumer

PREFIX = "benchw"
POLLS = 12_000  # 60 s at 5 ms


def backlog(searches: int, seed: int = 1) -> tuple[list[bytes], list[bytes]]:
    """(exposure entries, outcome entries) of ``searches`` searches by 5 000 users in one
    A/B experiment: about 1.3 outcomes per search (clicks, some add-to-carts and purchases)."""
    rng = random.Random(seed)
    exposures, outcomes = [], []
    for n in range(searches):
        user = f"u{rng.randrange(5000)}"
        variant = ("control", "candidate")[int(user[1:]) % 2]
        sid = f"s{n}"
        exposures.append(
            ExposureRecord(
                sid, sid, user, time.time(), 1, "prod-v1",
                (AssignmentRecord("bench", variant, "prod-v1"),), tuple(range(10)),
            ).to_json()
        )  # fmt: skip
        for k in range(rng.choice((0, 1, 1, 2))):
            kind = rng.choice(("click", "click", "click", "add_to_cart", "purchase"))
            value = round(rng.uniform(5, 80), 2) if kind == "purchase" else 0.0
            outcomes.append(
                OutcomeRecord(f"{sid}-{k}", kind, sid, user, k, k, value, time.time()).to_json()  # type: ignore[arg-type]
            )
    return exposures, outcomes


# Three dimensions' labels, as a gateway with device, shopper and query class declared writes
# them (gateway.config.segments; the worker sets shopper)
SEGMENT_LABELS = (
    "device=mobile|shopper=*|query_class=head",
    "device=desktop|shopper=*|query_class=tail",
)


def with_segments(exposures: list[bytes]) -> list[bytes]:
    """The same exposures, each labelled with three dimensions' segments."""
    out = []
    for i, raw in enumerate(exposures):
        entry = orjson.loads(raw)
        entry["segments"] = SEGMENT_LABELS[i % 2]
        out.append(orjson.dumps(entry))
    return out


async def fill(redis: Redis, keys: Keys, exposures: list[bytes], outcomes: list[bytes]) -> None:
    for stream, entries in (
        (keys.shard(0).exposures, exposures),
        (keys.shard(0).outcomes, outcomes),
    ):
        for i in range(0, len(entries), 1000):
            pipe = redis.pipeline(transaction=False)
            for e in entries[i : i + 1000]:
                pipe.xadd(stream, {"e": e})
            await pipe.execute()


async def fill_at(url: str, prefix: str, exposures: list[bytes], outcomes: list[bytes]) -> None:
    redis = redis_client(url)
    try:
        await fill(redis, Keys(prefix), exposures, outcomes)
    finally:
        await redis.aclose()


async def drain(url: str, total: int, prefix: str = PREFIX) -> float:
    """Entries applied per second by one consumer, from a full backlog to none pending."""
    redis = redis_client(url)
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, "bench-worker")
    await consumer.setup()
    started = time.perf_counter()
    applied = 0
    while applied < total:
        applied += await consumer.step(block_ms=50)
    elapsed = time.perf_counter() - started
    pending = await redis.xpending(keys.shard(0).outcomes, GROUP)
    await redis.aclose()
    if pending["pending"]:
        raise RuntimeError(f"{pending['pending']} outcomes still pending")
    return applied / elapsed


async def _lag(redis: Redis, keys: Keys) -> int:
    """Streams with entries the group has not read, or read and not acknowledged (Redis 6
    has no group lag: the last delivered id is compared with the stream's last id)."""
    behind = 0
    for stream in (keys.shard(0).exposures, keys.shard(0).outcomes):
        last = (await redis.xinfo_stream(stream))["last-generated-id"]
        for group in await redis.xinfo_groups(stream):
            behind += group["last-delivered-id"] != last or int(group["pending"]) > 0
    return behind


async def _one_of_many(url: str, prefix: str, name: str) -> None:
    """A worker process of the two-worker run: wait for the start, drain with the others
    until the group has nothing unread or pending, say so."""
    redis = redis_client(url)
    keys = Keys(prefix)
    consumer = StreamConsumer(redis, keys, name)
    await consumer.setup()
    for _ in range(POLLS):  # polled (bounded): the client's socket timeout forbids long BLPOPs
        if await redis.exists(f"{prefix}:bench:go"):
            break
        await asyncio.sleep(0.005)
    while await _lag(redis, keys):
        await consumer.step(block_ms=20)
    await redis.incr(f"{prefix}:bench:done")
    await redis.aclose()


def two_workers(url: str, exposures: list[bytes], outcomes: list[bytes]) -> float:
    """Entries per second applied by two worker processes (one per core) of one group."""
    prefix = PREFIX + "2"
    asyncio.run(fill_at(url, prefix, exposures, outcomes))
    procs = []
    for core in (SERVER_CORE, CLIENT_CORE):
        with on_core(core):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.worker", "--one-of-many", url, prefix, f"w{core}"]
                )
            )

    async def race() -> float:
        redis = redis_client(url)
        await asyncio.sleep(2.0)  # both have imported and joined the group
        started = time.perf_counter()
        await redis.set(f"{prefix}:bench:go", 1)
        for _ in range(POLLS * 2):
            if int(await redis.get(f"{prefix}:bench:done") or 0) >= len(procs):
                break
            await asyncio.sleep(0.005)
        else:
            raise RuntimeError("the two workers did not finish within two minutes")
        elapsed = time.perf_counter() - started
        await redis.aclose()
        return elapsed

    elapsed = asyncio.run(race())
    for proc in procs:
        proc.wait(30)
    return (len(exposures) + len(outcomes)) / elapsed


def run(searches: int, seconds: float) -> list[str]:
    exposures, outcomes = backlog(searches)
    with site() as at:
        routing = at.work / "routing.toml"
        routing.write_text('production = "prod-v1"\n')
        port = free_port()
        with on_core(SERVER_CORE):
            at.group.spawn(
                "gateway",
                ["serve-one"],
                gateway_env(at.redis, at.work, at.models, routing, port, "benchg"),
            )
        url = f"http://127.0.0.1:{port}/v1/events"
        wait_ready(f"http://127.0.0.1:{port}/readyz", at.group)
        click = orjson.dumps(click_for(f"http://127.0.0.1:{port}"))
        measure(url, click, 1.0, 32, at.work)  # warm-up
        produced = measure(url, click, seconds, 32, at.work)
        at.group.stop()  # the worker runs alone
        asyncio.run(fill_at(at.redis, PREFIX, exposures, outcomes))
        with on_core(SERVER_CORE):
            applied = asyncio.run(drain(at.redis, len(exposures) + len(outcomes)))
        both = two_workers(at.redis, exposures, outcomes)
        labelled = PREFIX + "s"
        asyncio.run(fill_at(at.redis, labelled, with_segments(exposures), outcomes))
        with on_core(SERVER_CORE):
            segmented = asyncio.run(drain(at.redis, len(exposures) + len(outcomes), labelled))
    total = len(exposures) + len(outcomes)
    return [
        f"One gateway process (core {SERVER_CORE}) answering one-click events from wrk (core "
        f"{CLIENT_CORE}, 32 connections, {seconds:g} s): **{produced:,.0f} events/s** "
        "(each one an outcome entry for the worker; the baseline). One worker "
        f"(`StreamConsumer`, core {SERVER_CORE}; Redis on core {CLIENT_CORE}) draining a backlog of "
        f"{len(exposures):,} exposures and {len(outcomes):,} outcomes ({total:,} entries, one A/B "
        f"experiment, 5 000 users): **{applied:,.0f} entries/s**, "
        f"**{applied / produced:.2f}x** what one gateway process produces at capacity "
        "(target: 4x).",
        "",
        f"Two worker processes of one consumer group (one per core, Redis beside the second), the "
        f"same backlog: **{both:,.0f} entries/s**, **{both / applied:.2f}x** one worker (target: "
        "1.8x; on this 2-core machine the second worker shares its core with Redis).",
        "",
        f"The same backlog with three segment dimensions declared (device, shopper, query "
        f"class: every sum kept for the arm and each of its user's segments): **{segmented:,.0f} "
        f"entries/s**, **{segmented / applied:.2f}x** one worker without segments.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--searches", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--one-of-many", nargs=3, metavar=("URL", "PREFIX", "NAME"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.one_of_many:
        asyncio.run(_one_of_many(*args.one_of_many))
        return 0
    return publish(
        "Worker against the gateway", run(args.searches, args.seconds), not args.no_write
    )


if __name__ == "__main__":
    raise SystemExit(main())
