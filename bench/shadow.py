"""Search latency with 100 % shadow traffic against none, side by side in one run.

One gateway process serving production (prod-v1) on its own Redis, twice: once with no
shadow, once with cand-v2 shadowing every production search. Its capacity is measured
closed-loop first (without shadow); then each configuration gets the same open-loop
Poisson arrivals at half that rate, and the p50/p99 of the answered searches are printed
with the ratio (the target: p99 with shadow at most 1.2x the p99 without).

    python -m bench.shadow [--seconds 10] [--candidates 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import EmbeddedRedis, free_port
from gateway.settings import ROOT
from sim.build import ensure_demo_models

CONFIG = """production = "prod-v1"
namespace_id = "ranking"
shadows = [{shadows}]
"""


def _body(rng: random.Random, candidates: int) -> dict[str, object]:
    return {
        "user_id": f"u{rng.randrange(10**9)}",
        "query": rng.choice(["waterproof tent", "wireless headphones", "kids bicycle"]),
        "candidates": rng.sample(range(3000), candidates),
    }


async def _closed_loop(url: str, seconds: float, concurrency: int, candidates: int) -> float:
    rng = random.Random(1)
    done = 0
    deadline = time.monotonic() + seconds

    async def lane(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.post(url, json=_body(rng, candidates)) as response:
                await response.read()
                done += response.status == 200

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(lane(session) for _ in range(concurrency)))
    return done / seconds


async def _open_loop(url: str, rate: float, seconds: float, candidates: int) -> list[float]:
    """Poisson arrivals at ``rate``/s, each request on its own: latencies of the 200s (ms)."""
    rng = random.Random(2)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession) -> None:
        started = time.perf_counter()
        async with session.post(url, json=_body(rng, candidates)) as response:
            await response.read()
            if response.status == 200:
                latencies.append((time.perf_counter() - started) * 1000.0)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        at = loop.time()
        end = at + seconds
        while at < end:
            at += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, at - loop.time()))
            task = asyncio.create_task(one(session))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return latencies


async def _shadow_figures(base: str) -> dict[str, object]:
    await asyncio.sleep(1.5)  # the last second's figures reach Redis
    async with aiohttp.ClientSession() as session, session.get(base + "/v1/shadow") as response:
        data = await response.json()
    figures: dict[str, object] = data["shadows"][0]
    return figures


def _gateway(
    group: ProcessGroup, redis: str, work: Path, name: str, shadows: str, port: int
) -> str:
    routing = work / f"{name}.toml"
    routing.write_text(CONFIG.format(shadows=shadows))
    env = {
        "REDIS_URL": redis,
        "ABGATE_PREFIX": name,
        "ABGATE_VAR_DIR": str(work / name),
        "ABGATE_MODELS_DIR": str(work / "store"),
        "ABGATE_SEED_MODELS": str(ROOT / "var" / "demo-models"),
        "ABGATE_ROUTING": str(routing),
        "ABGATE_ADMIN_TOKEN": "bench",
        "ABGATE_PORT": str(port),
    }
    group.spawn(name, ["serve-one"], env)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/readyz", group)
    return base + "/v1/search"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--candidates", type=int, default=50)
    args = parser.parse_args()
    ensure_demo_models(ROOT / "var" / "demo-models", log=lambda *a: None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = EmbeddedRedis(work / "redis", appendonly=False).start()
        try:
            results = {}
            capacity = 0.0
            figures: dict[str, object] = {}
            for name, shadows in (("none", ""), ("shadow", '{version = "cand-v2", share = 1.0}')):
                group = ProcessGroup()
                try:
                    url = _gateway(group, redis.url, work, name, shadows, free_port())
                    asyncio.run(_closed_loop(url, 2.0, 16, args.candidates))  # warm up
                    if not capacity:
                        capacity = asyncio.run(_closed_loop(url, 5.0, 32, args.candidates))
                    latencies = asyncio.run(
                        _open_loop(url, capacity / 2, args.seconds, args.candidates)
                    )
                    results[name] = np.percentile(latencies, [50, 99])
                    if shadows:
                        figures = asyncio.run(_shadow_figures(url.replace("/v1/search", "")))
                finally:
                    group.stop()
        finally:
            redis.stop()
    none, shadow = results["none"], results["shadow"]
    print(
        f"one gateway process, {args.candidates} candidates, capacity {capacity:.0f} searches/s "
        f"(closed loop, no shadow); open-loop Poisson at {capacity / 2:.0f}/s for {args.seconds:g} s"
    )
    print(f"  no shadow (baseline)     p50 {none[0]:6.2f} ms   p99 {none[1]:6.2f} ms   1.00x")
    print(
        f"  100 % shadow (cand-v2)   p50 {shadow[0]:6.2f} ms   p99 {shadow[1]:6.2f} ms   "
        f"{shadow[1] / none[1]:.2f}x p99 (target <= 1.2x)"
    )
    print(
        f"  shadow work: {figures.get('scored')} scored, {figures.get('dropped')} dropped "
        f"(bounded queue), {figures.get('errors')} errors, overlap@10 with production "
        f"{figures.get('overlap_at_10')}"
    )


if __name__ == "__main__":
    main()
