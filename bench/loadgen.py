"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections on raw asyncio
streams, requests pre-encoded, so that the generator's own CPU (it shares this machine's
cores with the gateway) stays a small part of each measurement.

- :func:`closed_loop`: ``concurrency`` connections, each sending its next request as soon as
  the last answer arrived; returns requests/s.
- :func:`open_loop`: Poisson arrivals at ``rate``; each request goes out on an idle connection
  (a new one when none is idle) and its latency counts from its scheduled arrival, so a
  stalled server cannot hide its stall by slowing the generator (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import orjson


def encode_requests(host: str, path: str, bodies: Sequence[object]) -> list[bytes]:
    out = []
    for body in bodies:
        data = orjson.dumps(body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        return await _answer(self.reader)


async def _connect(host: str, port: int) -> _Connection:
    reader, writer = await asyncio.open_connection(host, port)
    return _Connection(reader, writer)


async def closed_loop(
    host: str, port: int, requests: Sequence[bytes], seconds: float, concurrency: int
) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def lane(i: int) -> None:
        nonlocal done
        connection = await _connect(host, port)
        try:
            n = i
            while time.monotonic() < deadline:
                status = await connection.send(requests[n % len(requests)])
                done += status == 200
                n += concurrency
        finally:
            connection.writer.close()

    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    return done / seconds


async def open_loop(
    host: str, port: int, requests: Sequence[bytes], rate: float, seconds: float, seed: int = 2
) -> list[float]:
    """Latencies (ms) of the 200 answers to Poisson arrivals at ``rate``/s."""
    answers = await open_loop_answers(host, port, requests, rate, seconds, seed)
    return [ms for status, ms in answers if status == 200]


MAX_CONNECTIONS = 512


async def open_loop_answers(
    host: str, port: int, requests: Sequence[bytes], rate: float, seconds: float, seed: int = 2
) -> list[tuple[int, float]]:
    """(status, latency in ms from the scheduled arrival) of every answer to Poisson arrivals
    at ``rate``/s. At most :data:`MAX_CONNECTIONS` are open; an arrival that finds them all
    busy waits for one, and that wait counts in its latency (the clock starts at arrival)."""
    rng = random.Random(seed)
    idle: list[_Connection] = []
    latencies: list[tuple[int, float]] = []
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def one(request: bytes, scheduled: float) -> None:
        async with slots:
            connection = idle.pop() if idle else await _connect(host, port)
            status = await connection.send(request)
            latencies.append((status, (loop.time() - scheduled) * 1000.0))
            idle.append(connection)

    at = loop.time()
    end = at + seconds
    n = 0
    while at < end:
        at += rng.expovariate(rate)
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(requests[n % len(requests)], at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.gather(*tasks)
    for connection in idle:
        connection.writer.close()
    return latencies
