"""Search latency with 100 % shadow traffic against none, side by side in one run.

One gateway process serving production (prod-v1) on its own Redis, twice: once with no
shadow, once with cand-v2 shadowing every production search. Its capacity is measured
closed-loop first (without shadow); then each configuration gets the same open-loop
Poisson arrivals at half that rate, in alternating rounds, and the p50/p99 of the answered
searches are printed with the ratio (the target: p99 with shadow at most 1.2x the p99 without).

    python -m bench.shadow [--seconds 5] [--rounds 6] [--candidates 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from bench.loadgen import closed_loop, encode_requests, open_loop
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


def _requests(url: str, candidates: int, seed: int) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    rng = random.Random(seed)
    bodies = [_body(rng, candidates) for _ in range(500)]
    return parts.hostname, parts.port, encode_requests(parts.netloc, parts.path, bodies)


async def _closed_loop(url: str, seconds: float, concurrency: int, candidates: int) -> float:
    host, port, requests = _requests(url, candidates, 1)
    return await closed_loop(host, port, requests, seconds, concurrency)


async def _open_loop(url: str, rate: float, seconds: float, candidates: int) -> list[float]:
    """Poisson arrivals at ``rate``/s: latencies of the 200s (ms), from each scheduled arrival."""
    host, port, requests = _requests(url, candidates, 2)
    return await open_loop(host, port, requests, rate, seconds)


async def _shadow_figures(base: str) -> dict[str, object]:
    await asyncio.sleep(1.5)  # the last second's figures reach Redis
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer bench"}) as session,
        session.get(base + "/v1/shadow") as response,
    ):
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
        "ABGATE_SERVING_AUTH": "open",
        "ABGATE_PORT": str(port),
    }
    group.spawn(name, ["serve-one"], env)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/readyz", group)
    return base + "/v1/search"


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(latencies, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per round and configuration")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--rate", type=float, help="offered searches/s (default: half capacity)")
    parser.add_argument(
        "--aa", action="store_true", help="no shadow on either side: the noise of the ratio"
    )
    args = parser.parse_args()
    ensure_demo_models(ROOT / "var" / "demo-models", log=lambda *a: None)
    shadow_config = "" if args.aa else '{version = "cand-v2", share = 1.0}'
    configs = (("none", ""), ("shadow", shadow_config))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = EmbeddedRedis(work / "redis", appendonly=False).start()
        group = ProcessGroup()
        try:
            urls = {
                name: _gateway(group, redis.url, work, name, shadows, free_port())
                for name, shadows in configs
            }
            for url in urls.values():
                asyncio.run(_closed_loop(url, 2.0, 16, args.candidates))  # warm up
            # Capacity without shadow: the median of three closed-loop runs (the load generator
            # shares the machine, so one run alone is noisy).
            capacity = float(
                np.median(
                    [
                        asyncio.run(_closed_loop(urls["none"], 3.0, 32, args.candidates))
                        for _ in "abc"
                    ]
                )
            )
            rate = args.rate or capacity / 2
            # Rounds alternate the two configurations at the same offered rate, so that a
            # slow spell of the machine falls on both.
            latencies: dict[str, list[float]] = {"none": [], "shadow": []}
            ratios = []
            for _ in range(args.rounds):
                round_p99 = {}
                for name in ("none", "shadow"):
                    got = asyncio.run(_open_loop(urls[name], rate, args.seconds, args.candidates))
                    latencies[name] += got
                    round_p99[name] = _percentiles(got)[1]
                ratios.append(round_p99["shadow"] / round_p99["none"])
            figures = (
                {}
                if args.aa
                else asyncio.run(_shadow_figures(urls["shadow"].replace("/v1/search", "")))
            )
        finally:
            group.stop()
            redis.stop()
    none, shadow = _percentiles(latencies["none"]), _percentiles(latencies["shadow"])
    print(
        f"one gateway process, {args.candidates} candidates, capacity {capacity:.0f} searches/s "
        f"(closed loop, no shadow, median of 3); open-loop Poisson at {rate:.0f}/s, "
        f"{args.rounds} alternating rounds of {args.seconds:g} s per configuration"
    )
    print(f"  no shadow (baseline)     p50 {none[0]:6.2f} ms   p99 {none[1]:6.2f} ms   1.00x")
    print(
        f"  100 % shadow (cand-v2)   p50 {shadow[0]:6.2f} ms   p99 {shadow[1]:6.2f} ms   "
        f"{shadow[1] / none[1]:.2f}x p99 (target <= 1.2x); per round "
        + ", ".join(f"{r:.2f}x" for r in ratios)
        + f" (median {np.median(ratios):.2f}x)"
    )
    print(
        f"  shadow work: {figures.get('scored')} scored, {figures.get('dropped')} dropped "
        f"(worker behind), {figures.get('errors')} errors, overlap@10 with production "
        f"{figures.get('overlap_at_10')}"
    )


if __name__ == "__main__":
    main()
