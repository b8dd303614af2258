"""``make soak``: a gateway process and the worker under steady traffic for 30 minutes (by
default); Redis memory and the gateway's resident memory must stay flat.

Shoppers from a fixed population of users search and click at a steady rate (a fraction of
one process's capacity) against one gateway process with one A/B experiment over every user;
the worker applies every entry, trims the streams once their entries are applied and older
than ``ABGATE_STREAM_RETENTION_S``, and the searches and event ids it keeps expire after their
windows (``ABGATE_SEARCH_TTL_S``, ``ABGATE_SEEN_TTL_S``), here shortened to minutes so that the
steady state comes within the run. Redis's ``used_memory`` and the gateway's RSS are sampled
every 30 s; the figure is the last sample against the one after the warm-up (the baseline from
the same run), and the largest sample of the second half against the warm-up one.

    python -m bench.soak [--minutes 30] [--rate 400]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import aiohttp

from bench.report import publish
from bench.throughput import CLIENT_CORE, SERVER_CORE, aa_config, gateway_env, on_core, site
from gateway.processes import wait_ready
from gateway.redis_client import redis_client
from gateway.redis_server import free_port

USERS = 20_000
SAMPLE_S = 30.0
WINDOWS = {
    "ABGATE_STREAM_RETENTION_S": "60",
    "ABGATE_SEARCH_TTL_S": "120",
    "ABGATE_SEEN_TTL_S": "300",
}
CONFIG = aa_config("soak", "namespace_range = [0.0, 1.0]", "min_units_per_arm = 100000000")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def shoppers(base: str, rate: float, seconds: float) -> tuple[int, int, int]:
    """Searches at ``rate``/s (each followed by a click on its first result), open loop over
    a few lanes; (searches served, clicks accepted, errors)."""
    served = clicked = errors = 0
    lanes = 16
    end = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10.0)

    async def lane(n: int) -> None:
        nonlocal served, clicked, errors
        rng = random.Random(n)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            next_at = time.monotonic()
            while next_at < end:
                next_at += rng.expovariate(rate / lanes)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                user = f"u{rng.randrange(USERS)}"
                body = {"user_id": user, "query": "shoes", "candidates": list(range(50))}
                try:
                    async with session.post(base + "/v1/search", json=body) as r:
                        if r.status != 200:
                            errors += 1
                            continue
                        answer = await r.json()
                    served += 1
                    click = {
                        "event_id": answer["search_id"] + "-c",
                        "type": "click",
                        "search_id": answer["search_id"],
                        "user_id": user,
                        "item_id": answer["results"][0]["item_id"],
                    }
                    async with session.post(base + "/v1/events", json=click) as r:
                        clicked += r.status == 202
                        errors += r.status != 202
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1

    await asyncio.gather(*(lane(n) for n in range(lanes)))
    return served, clicked, errors


async def sample(
    redis_url: str, gateway_pid: int, seconds: float, into: list[tuple[float, int, int]]
) -> None:
    redis = redis_client(redis_url)
    started = time.monotonic()
    try:
        for _ in range(int(seconds / SAMPLE_S) + 1):
            info = await redis.info("memory")
            into.append(
                (time.monotonic() - started, int(info["used_memory"]), rss_bytes(gateway_pid))
            )
            await asyncio.sleep(SAMPLE_S)
    finally:
        await redis.aclose()


def run(minutes: float, rate: float) -> list[str]:
    seconds = minutes * 60.0
    samples: list[tuple[float, int, int]] = []
    with site() as at:
        routing = at.work / "routing.toml"
        routing.write_text(CONFIG)
        port = free_port()
        env = gateway_env(at.redis, at.work, at.models, routing, port, "soak") | WINDOWS
        with on_core(SERVER_CORE):
            gateway = at.group.spawn("gateway", ["serve-one"], env)
            at.group.spawn("worker", ["worker", "--interval", "5"], env)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", at.group)

        async def both() -> tuple[int, int, int]:
            sampler = asyncio.create_task(sample(at.redis, gateway.pid, seconds, samples))
            with on_core(CLIENT_CORE):
                counts = await shoppers(base, rate, seconds)
            await sampler
            return counts

        served, clicked, errors = asyncio.run(both())
        at.group.check()
    # The steady state: every window (300 s at most) has passed and the users have all come.
    warm = (
        next(s for s in samples if s[0] >= 600.0) if minutes >= 20 else samples[len(samples) // 3]
    )
    second_half = [s for s in samples if s[0] >= seconds / 2]
    last = samples[-1]
    mib = 1 << 20
    return [
        f"One gateway process (core {SERVER_CORE}) and the worker, {minutes:g} minutes of "
        f"searches at {rate:g}/s (Poisson, 50 candidates, {USERS:,} users, one A/B experiment "
        f"over all of them), each followed by a click: {served:,} searches and {clicked:,} "
        f"clicks answered, {errors} errors. Windows shortened so that the steady state comes "
        f"within the run: " + ", ".join(f"`{k}={v}`" for k, v in WINDOWS.items()) + ".",
        "",
        f"| | after warm-up (t = {warm[0]:.0f} s) | last (t = {last[0]:.0f} s) | last / warm-up | largest in the second half / warm-up |",
        "|---|---|---|---|---|",
        f"| Redis used_memory | {warm[1] / mib:.1f} MiB | {last[1] / mib:.1f} MiB | "
        f"**{last[1] / warm[1]:.2f}x** | {max(s[1] for s in second_half) / warm[1]:.2f}x |",
        f"| gateway RSS | {warm[2] / mib:.1f} MiB | {last[2] / mib:.1f} MiB | "
        f"**{last[2] / warm[2]:.2f}x** | {max(s[2] for s in second_half) / warm[2]:.2f}x |",
        "",
        "Samples every 30 s (t, Redis MiB, gateway RSS MiB): "
        + ", ".join(
            f"{t:.0f} {r / mib:.1f} {g / mib:.1f}"
            for t, r, g in samples[:: max(1, len(samples) // 20)]
        )
        + ".",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    return publish("Soak", run(args.minutes, args.rate), not args.no_write)


if __name__ == "__main__":
    raise SystemExit(main())
