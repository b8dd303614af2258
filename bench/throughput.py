"""``make bench``: one gateway process's search and event throughput against bare aiohttp on
uvloop doing the same JSON round trip, and against the limit its parts allow.

The gateway (``abgate serve-one``, production only, on its own embedded Redis) and the bare
server (:mod:`bench.bare_server`) run on one core; the load generator (wrk, one thread, when
it is on PATH: ``apt-get install wrk``; else :mod:`bench.loadgen`) and Redis on the other.
Rounds alternate the two servers on the same body so that a slow spell of the machine falls
on both; each figure is the median over the rounds. The limit of the parts for a search is
1 / (1/H + 1/I): H the bare server's rate for the same body, I ONNX Runtime's rate scoring
the same requests for the same model, pre-merged in batches of 64, on the same one core.

    python -m bench.throughput [--seconds 4] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import orjson

from bench.batching import _ceiling, _requests
from bench.loadgen import closed_loop, encode_requests, open_loop, open_loop_answers
from bench.report import publish
from gateway.inference.batcher import BatchPolicy
from gateway.inference.registry import LoadedModel
from gateway.inference.session import SessionOptions
from gateway.models.card import read_declaration
from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import EmbeddedRedis, free_port
from gateway.settings import ROOT
from sim.build import ensure_demo_models

MODEL = "prod-v1"
SERVER_CORE, CLIENT_CORE = 0, 1
CANDIDATES = (5, 50, 200)
BATCH = 64
CONFIG = 'production = "prod-v1"\nnamespace_id = "ranking"\n'


def aa_config(key: str, *lines: str) -> str:
    """:data:`CONFIG` with one A/A experiment ``key`` (control and twin, both production's
    version, half the weight each); ``lines`` are its further settings (TOML)."""
    variants = "".join(
        f'[[experiments.variants]]\nname = "{name}"\nmodel_version = "{MODEL}"\nweight = 0.5\n'
        for name in ("control", "twin")
    )
    settings = "".join(f"{line}\n" for line in lines)
    return f'{CONFIG}\n[[experiments]]\nkey = "{key}"\n{settings}{variants}'


def search_body(candidates: int) -> dict[str, Any]:
    return {
        "user_id": "u-1",
        "query": "red running shoes",
        "candidates": list(range(candidates)),
        "k": 10,
    }


CLICK = {
    "event_id": "e-1",
    "type": "click",
    "search_id": "s-1",
    "user_id": "u-1",
    "item_id": 3,
    "position": 0,
}


def click_for(url: str) -> dict[str, Any]:
    """:data:`CLICK` on a search the gateway at ``url`` answered (search ids are signed for
    their user, gateway.search_ids); the bare server takes CLICK as it is."""
    request = urllib.request.Request(
        url + "/v1/search",
        data=orjson.dumps(search_body(10)),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = orjson.loads(response.read())
    return CLICK | {"search_id": answer["search_id"], "item_id": answer["results"][0]["item_id"]}


@contextmanager
def on_core(core: int) -> Iterator[None]:
    """This process (and what it starts meanwhile) on one core."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _wrk(url: str, body: bytes, seconds: float, connections: int, work: Path) -> float:
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {_lua_string(body)}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(found.group(1))


def _lua_string(data: bytes) -> str:
    return "'" + data.decode().replace("\\", "\\\\").replace("'", "\\'") + "'"


def measure(url: str, body: bytes, seconds: float, connections: int, work: Path) -> float:
    """Requests/s answered 2xx, closed loop, from the client core."""
    with on_core(CLIENT_CORE):
        if shutil.which("wrk"):
            return _wrk(url, body, seconds, connections, work)
        host, _, rest = url.removeprefix("http://").partition(":")
        port, _, path = rest.partition("/")
        requests = encode_requests(host, "/" + path, [orjson.loads(body)])
        return asyncio.run(closed_loop(host, int(port), requests, seconds, connections))


def onnx_rate(models: Path, candidates: int) -> float:
    """ONNX Runtime alone: requests/s for ``candidates`` each, pre-merged in batches of 64."""
    directory = models / MODEL
    model = LoadedModel(
        read_declaration(directory / "card.json"),
        directory / "model.onnx",
        BatchPolicy(),
        SessionOptions(),
    )
    inputs = _requests(model, 2048, candidates, seed=1)
    with on_core(SERVER_CORE):
        _ceiling(model, inputs[:256], BATCH)  # warm-up
        return median(_ceiling(model, inputs, BATCH) for _ in range(3))


ADMIN_TOKEN = "bench-admin-token"


@dataclass(frozen=True)
class Site:
    """Where a benchmark runs: a scratch folder, an embedded Redis on the client core, the
    processes it starts (stopped on exit), and the demo models."""

    work: Path
    redis: str
    group: ProcessGroup
    models: Path


@contextmanager
def site() -> Iterator[Site]:
    models = ROOT / "var" / "demo-models"
    ensure_demo_models(models, log=lambda *a: None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with on_core(CLIENT_CORE):
            redis = EmbeddedRedis(work / "redis", appendonly=False).start()
        group = ProcessGroup()
        try:
            yield Site(work, redis.url, group, models)
        finally:
            group.stop()
            redis.stop()


def gateway_env(
    redis: str, work: Path, models: Path, routing: Path, port: int, name: str
) -> dict[str, str]:
    """The environment of a benchmark's gateway process ``name`` (its own prefix, store and
    deployment; processes of one deployment share ``name``)."""
    return {
        "REDIS_URL": redis,
        "ABGATE_PREFIX": name,
        "ABGATE_VAR_DIR": str(work / name),
        "ABGATE_MODELS_DIR": str(work / f"store-{name}"),
        "ABGATE_SEED_MODELS": str(models),
        "ABGATE_ROUTING": str(routing),
        "ABGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "ABGATE_PORT": str(port),
        "ABGATE_DEPLOYMENT": name,
        # The load generators send no storefront token (its check costs a SHA-256 a request).
        "ABGATE_SERVING_AUTH": "open",
    }


VARIANTS: dict[str, dict[str, str]] = {
    "gateway": {},
    "unbatched": {"ABGATE_MAX_BATCH_PAIRS": "1"},  # one request per ONNX run
    "durable": {"ABGATE_ACK": "durable"},  # answered once its event is in Redis
}


def _servers(group: ProcessGroup, redis: str, work: Path, models: Path) -> dict[str, str]:
    """Base URLs: the gateway, its variants (:data:`VARIANTS`) and the bare server ("bare")."""
    routing = work / "routing.toml"
    routing.write_text(CONFIG)
    urls = {}
    with on_core(SERVER_CORE):
        for name, extra in VARIANTS.items():
            port = free_port()
            env = gateway_env(redis, work, models, routing, port, f"bench-{name}") | extra
            group.spawn(name, ["serve-one"], env)
            urls[name] = f"http://127.0.0.1:{port}"
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_server", str(bare_port)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        group.processes.append(("bare", bare))
    bare_url = f"http://127.0.0.1:{bare_port}"
    for url in urls.values():
        wait_ready(url + "/readyz", group)
    for _ in range(100):  # the bare server answers as soon as it listens
        try:
            measure(bare_url + "/v1/events", orjson.dumps(CLICK), 0.2, 1, work)
            break
        except (OSError, RuntimeError, subprocess.CalledProcessError):
            time.sleep(0.1)
    return urls | {"bare": bare_url}


def latencies(url: str, body: bytes, rate: float, seconds: float) -> tuple[float, float]:
    """(p50, p99) in ms of Poisson arrivals at ``rate``/s, open loop, from the client core."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    requests = encode_requests(host, "/" + path, [orjson.loads(body)])
    with on_core(CLIENT_CORE):
        got = asyncio.run(open_loop(host, int(port), requests, rate, seconds))
    p50, p99 = np.percentile(got, [50, 99])
    return float(p50), float(p99)


def overload(url: str, body: bytes, rate: float, seconds: float) -> dict[str, float]:
    """Poisson arrivals at ``rate``/s (past capacity), open loop from the client core: the
    rates achieved, and p99 of the served (200) and of the shed (503) answers, in ms."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    requests = encode_requests(host, "/" + path, [orjson.loads(body)])
    with on_core(CLIENT_CORE):
        got = asyncio.run(open_loop_answers(host, int(port), requests, rate, seconds))
    served = [ms for status, ms in got if status == 200]
    shed = [ms for status, ms in got if status == 503]
    other = len(got) - len(served) - len(shed)
    return {
        "offered": len(got) / seconds,
        "served": len(served) / seconds,
        "shed": len(shed) / seconds,
        "other": other,
        "served_p50": float(np.percentile(served, 50)) if served else float("nan"),
        "served_p99": float(np.percentile(served, 99)) if served else float("nan"),
        "shed_p50": float(np.percentile(shed, 50)) if shed else float("nan"),
        "shed_p99": float(np.percentile(shed, 99)) if shed else float("nan"),
    }


def run(seconds: float, rounds: int, connections: int) -> list[str]:
    workloads: list[tuple[str, str, dict[str, Any], int | None]] = [
        (f"/v1/search, {n} candidates", "/v1/search", search_body(n), n) for n in CANDIDATES
    ]
    workloads.append(("/v1/events, one click", "/v1/events", CLICK, None))
    rates: dict[str, dict[str, list[float]]] = {
        w[0]: {"bare": [], "gateway": []} for w in workloads
    }
    fifty = orjson.dumps(search_body(50))
    batching: dict[str, list[float]] = {"gateway": [], "unbatched": []}
    durable = ("/v1/events, one click", "/v1/search, 50 candidates")
    for name in durable:
        rates[name]["durable"] = []
    with site() as at:
        work, group, models = at.work, at.group, at.models
        urls = _servers(group, at.redis, work, models)
        clicks = {s: CLICK if s == "bare" else click_for(url) for s, url in urls.items()}

        def body_for(server: str, path: str, body: dict[str, Any]) -> bytes:
            return orjson.dumps(clicks[server] if path == "/v1/events" else body)

        for _name, path, body, _ in workloads:  # warm-up: models, batchers, connections
            for server, url in urls.items():
                measure(url + path, body_for(server, path, body), 1.0, connections, work)
        for _ in range(rounds):
            for name, path, body, _ in workloads:
                for server in (
                    ("bare", "gateway", "durable") if name in durable else ("bare", "gateway")
                ):
                    rate = measure(
                        urls[server] + path,
                        body_for(server, path, body),
                        seconds,
                        connections,
                        work,
                    )
                    rates[name][server].append(rate)
            for server in ("gateway", "unbatched"):  # 64 requests in flight
                url = urls[server] + "/v1/search"
                batching[server].append(measure(url, fifty, seconds, 64, work))
            group.check()
        # Latency at half the capacity for 50 candidates, open loop (no coordinated omission)
        capacity = median(rates["/v1/search, 50 candidates"]["gateway"])
        half = {
            server: latencies(urls[server] + "/v1/search", fifty, capacity / 2, 3 * seconds)
            for server in ("gateway", "bare")
        }
        # Twice the capacity, open loop: what is shed, how fast, and the served ones' tail
        past = overload(urls["gateway"] + "/v1/search", fifty, 2 * capacity, 3 * seconds)
        past_bare = overload(urls["bare"] + "/v1/search", fifty, 2 * capacity, 3 * seconds)
    onnx = {n: onnx_rate(models, n) for n in CANDIDATES}
    generator = "wrk, 1 thread" if shutil.which("wrk") else "bench.loadgen (no wrk on PATH)"
    lines = [
        f"One gateway process (`serve-one`, production {MODEL}, embedded Redis) and bare aiohttp "
        f"on uvloop doing the same JSON round trip, each on core {SERVER_CORE}; the load generator "
        f"({generator}, {connections} connections, closed loop) and Redis on core "
        f"{CLIENT_CORE}. Median of {rounds} alternating rounds of {seconds:g} s. Limit of the "
        "parts: 1 / (1/H + 1/I), H the bare server's rate, I ONNX Runtime scoring the same "
        f"requests pre-merged in batches of {BATCH} on one core.",
        "",
        "| workload | bare req/s (H) | gateway req/s | gateway / bare | ONNX alone req/s (I) "
        "| limit of the parts | gateway / limit |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, _, _, n in workloads:
        h, gw = median(rates[name]["bare"]), median(rates[name]["gateway"])
        if n is None:
            lines.append(f"| {name} | {h:,.0f} | {gw:,.0f} | {gw / h:.2f}x | – | – | – |")
            continue
        limit = 1 / (1 / h + 1 / onnx[n])
        lines.append(
            f"| {name} | {h:,.0f} | {gw:,.0f} | {gw / h:.2f}x | {onnx[n]:,.0f} | "
            f"{limit:,.0f} | {gw / limit:.2f}x |"
        )
    on, off = median(batching["gateway"]), median(batching["unbatched"])
    (g50, g99), (b50, b99) = half["gateway"], half["bare"]
    lines += [
        "",
        f"Dynamic batching at 64 concurrent requests (50 candidates, {rounds} rounds): batching on "
        f"{on:,.0f} req/s, off (`ABGATE_MAX_BATCH_PAIRS=1`: one request per ONNX run) "
        f"{off:,.0f} req/s: **{on / off:.2f}x**.",
        "",
        f"Latency at half the capacity (Poisson arrivals at {capacity / 2:,.0f} searches/s, 50 "
        f"candidates, open loop for {3 * seconds:g} s): gateway p50 {g50:.2f} ms, p99 {g99:.2f} ms, "
        f"**p99 / p50 {g99 / g50:.2f}**; the bare server at the same rate: p50 {b50:.2f} ms, "
        f"p99 {b99:.2f} ms.",
        "",
        f"Past capacity (Poisson arrivals at twice it, {2 * capacity:,.0f} searches/s asked, "
        f"{past['offered']:,.0f}/s sent, 50 candidates, open loop for {3 * seconds:g} s): "
        f"{past['served']:,.0f}/s served, p50 {past['served_p50']:.1f} ms, p99 "
        f"{past['served_p99']:.1f} ms; {past['shed']:,.0f}/s shed (503 with Retry-After: past "
        f"`ABGATE_MAX_INFLIGHT` or `ABGATE_MAX_LAG_MS`), answered in p50 {past['shed_p50']:.1f} ms, "
        f"**p99 {past['shed_p99']:.1f} ms** (target < 5 ms); {past['other']:.0f} other answers. "
        f"Baseline, the bare server at the same rate from the same generator: p50 "
        f"{past_bare['served_p50']:.1f} ms, p99 {past_bare['served_p99']:.1f} ms (when these are "
        "large too, the one-core Python generator, not the gateway, is what falls behind).",
        "",
        "Durable acknowledgement (`ABGATE_ACK=durable`: a request is answered once its event is "
        "in Redis or the fsync'd spool, group commit) against the default (answered once "
        f"buffered), same load, {rounds} rounds: "
        + "; ".join(
            f"{name} {median(rates[name]['durable']):,.0f} vs {median(rates[name]['gateway']):,.0f}"
            f" req/s (**{median(rates[name]['durable']) / median(rates[name]['gateway']):.2f}x**)"
            for name in durable
        )
        + ". (Redis here runs without an AOF; with `appendfsync always` each batch also "
        "waits for Redis's fsync.)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    lines = run(args.seconds, args.rounds, args.connections)
    return publish("Throughput against bare aiohttp", lines, not args.no_write)


if __name__ == "__main__":
    raise SystemExit(main())
