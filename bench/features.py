"""``make bench``: searches whose candidates carry named features (per candidate, or as
columns) against the same searches with unnamed arrays, in one run (issue 21's target: named
features cost at most 1.3x the unnamed path).

Per size (candidates × features: 50 × 8, a storefront's ranker; 200 × 136, MSLR-WEB30K's
feature vectors) one linear ONNX ranker is seeded twice, under a card that declares the width
(``dim``: unnamed arrays) and under one that declares the names; the card is all that differs.
Each card is production of its own gateway process (``serve-one``, core 0). The same searches
(same SKUs, same values) go out in three forms from :mod:`bench.loadgen` (closed loop, fixed
connections; it and Redis on core 1); rounds alternate the forms so that a slow spell of the
machine falls on all, and each figure is the median over the rounds. Per form: searches/s,
the gateway process's CPU time per search (which other work on a shared machine disturbs less
than searches/s), and ``parse_search`` alone on the body (CPU time, best of timeit repeats).
The ranker is linear so that ONNX Runtime takes little of each search: the ratios are the
harsh case for named features.

    python -m bench.features [--seconds 3] [--rounds 5] [--connections 16] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any, Final, Literal

import numpy as np
import onnx
import orjson
from onnx import TensorProto, helper, numpy_helper

from bench.loadgen import closed_loop, encode_requests
from bench.report import publish
from bench.throughput import CLIENT_CORE, SERVER_CORE, gateway_env, on_core
from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import EmbeddedRedis, free_port
from gateway.schema import parse_search

Form = Literal["unnamed arrays", "named per candidate", "named columns"]
UNNAMED: Final = "unnamed arrays"
NAMED_OBJECTS: Final = "named per candidate"
NAMED_COLUMNS: Final = "named columns"
FORMS: Final[tuple[Form, ...]] = (UNNAMED, NAMED_OBJECTS, NAMED_COLUMNS)
Key = tuple[tuple[int, int], Form]  # (candidates, features), form
SIZES: Final = ((50, 8), (200, 136))
TARGET: Final = 1.3  # issue 21: named features cost at most 1.3x the unnamed path
SEARCHES: Final = 16  # distinct bodies per form (users and values differ)

# A storefront's features, and MSLR-WEB30K's 136 (25 per stream over 5 streams, then 11).
STOREFRONT: Final = (
    "bm25", "ctr_7d", "add_to_cart_rate_30d", "log_price",
    "brand_match", "category_match", "stock_level", "days_since_listed",
)  # fmt: skip
_PER_STREAM: Final = (
    "covered_query_term_number", "covered_query_term_ratio", "stream_length", "idf",
    "sum_tf", "min_tf", "max_tf", "mean_tf", "variance_tf",
    "sum_normalized_tf", "min_normalized_tf", "max_normalized_tf", "mean_normalized_tf",
    "variance_normalized_tf", "sum_tfidf", "min_tfidf", "max_tfidf", "mean_tfidf",
    "variance_tfidf", "boolean_model", "vector_space_model", "bm25",
    "lmir_abs", "lmir_dir", "lmir_jm",
)  # fmt: skip
_STREAMS: Final = ("body", "anchor", "title", "url", "document")
_DOCUMENT: Final = (
    "slash_count_in_url", "url_length", "inlink_count", "outlink_count", "pagerank",
    "siterank", "quality_score", "quality_score_2", "query_url_clicks", "url_clicks",
    "url_dwell_time",
)  # fmt: skip
MSLR: Final = tuple(f"{k}_{s}" for k in _PER_STREAM for s in _STREAMS) + _DOCUMENT


def feature_names(width: int) -> tuple[str, ...]:
    names = STOREFRONT if width <= len(STOREFRONT) else MSLR
    if width > len(names):
        raise ValueError(f"at most {len(MSLR)} named features, asked for {width}")
    return names[:width]


def linear_ranker(width: int, seed: int = 5) -> bytes:
    """ONNX: ``score = features @ w + b``, float32 ``[n, width]`` → ``[n, 1]``."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(width, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["score"]),
        ],
        f"linear-{width}",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n", 1])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.zeros(1, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def version_id(width: int, named: bool) -> str:
    return f"linear-{width}-{'named' if named else 'unnamed'}"


def write_seed(folder: Path, width: int) -> None:
    """Two versions of one ONNX file (``folder/<version>/model.onnx`` + ``card.json``): one card
    declares the width, the other the names."""
    onnx_bytes = linear_ranker(width)
    for named in (False, True):
        version = version_id(width, named)
        source: dict[str, Any] = {"name": "features", "source": "candidate_features"}
        source |= {"features": list(feature_names(width))} if named else {"dim": width}
        card = {
            "version": version,
            "description": f"linear in {width} candidate features (bench.features)",
            "inputs": [source],
            "output": "score",
        }
        (folder / version).mkdir(parents=True)
        (folder / version / "model.onnx").write_bytes(onnx_bytes)
        (folder / version / "card.json").write_text(json.dumps(card, indent=2))


def searches(
    candidates: int, width: int, count: int = SEARCHES, seed: int = 7
) -> dict[Form, list[dict[str, Any]]]:
    """``count`` searches in each form: the same users, SKUs and values (4 decimals, as a
    feature store's JSON often carries them) in all three."""
    rng = np.random.default_rng(seed)
    names = feature_names(width)
    out: dict[Form, list[dict[str, Any]]] = {form: [] for form in FORMS}
    for n in range(count):
        skus = [f"SKU-{i:06d}" for i in rng.choice(1_000_000, size=candidates, replace=False)]
        values = np.round(rng.normal(size=(candidates, width)), 4).tolist()
        head = {"user_id": f"u-{n}", "query": "trail running shoes", "k": 10}
        out[UNNAMED].append(
            head
            | {"candidates": [{"id": s, "features": v} for s, v in zip(skus, values, strict=True)]}
        )
        out[NAMED_OBJECTS].append(
            head
            | {
                "candidates": [
                    {"id": s, "features": dict(zip(names, v, strict=True))}
                    for s, v in zip(skus, values, strict=True)
                ]
            }
        )
        columns = {name: [row[j] for row in values] for j, name in enumerate(names)}
        out[NAMED_COLUMNS].append(head | {"candidates": skus, "features": columns})
    return out


def parse_us(bodies: dict[Key, bytes], repeat: int) -> dict[Key, float]:
    """``parse_search`` alone on each body: CPU µs (process time), best of ``repeat`` runs of
    at least 0.2 s each, the bodies taking turns so that a busy spell of the machine falls on
    all of them."""
    timers = {
        key: timeit.Timer(partial(parse_search, body), timer=time.process_time)
        for key, body in bodies.items()
    }
    numbers = {key: timer.autorange()[0] for key, timer in timers.items()}
    best = dict.fromkeys(bodies, float("inf"))
    for _ in range(repeat):
        for key, timer in timers.items():
            best[key] = min(best[key], timer.timeit(numbers[key]) / numbers[key] * 1e6)
    return best


@dataclass(frozen=True)
class Served:
    """A gateway process serving one card: its base URL and process id."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User and system CPU time of the process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return orjson.loads(response.read())


@contextmanager
def gateways(widths: Sequence[int]) -> Iterator[dict[tuple[int, bool], Served]]:
    """By (width, named): one ``serve-one`` process per card on the server core, each its own
    deployment seeded with the card as production, on one embedded Redis."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed = work / "seed"
        for width in widths:
            write_seed(seed, width)
        with on_core(CLIENT_CORE):
            redis = EmbeddedRedis(work / "redis", appendonly=False).start()
        group = ProcessGroup()
        try:
            urls = {}
            with on_core(SERVER_CORE):
                for width in widths:
                    for named in (False, True):
                        version = version_id(width, named)
                        routing = work / f"{version}.toml"
                        routing.write_text(f'production = "{version}"\nnamespace_id = "ranking"\n')
                        port = free_port()
                        env = gateway_env(redis.url, work, seed, routing, port, f"bench-{version}")
                        group.spawn(version, ["serve-one"], env)
                        urls[width, named] = f"http://127.0.0.1:{port}"
            served = {}
            for key, url in urls.items():
                wait_ready(url + "/readyz", group)
                with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                    served[key] = Served(url, int(orjson.loads(response.read())["pid"]))
            yield served
        finally:
            group.stop()
            redis.stop()


def load(
    gateway: Served, requests: Sequence[bytes], seconds: float, connections: int
) -> tuple[float, float]:
    """Closed loop from the client core (:func:`bench.loadgen.closed_loop`): searches/s
    answered 200, and the gateway's CPU ms per search."""
    host, _, port = gateway.url.removeprefix("http://").partition(":")
    before = gateway.cpu_seconds()
    with on_core(CLIENT_CORE):
        searches_s = asyncio.run(closed_loop(host, int(port), requests, seconds, connections))
    used = gateway.cpu_seconds() - before
    return searches_s, used * 1000 / max(searches_s * seconds, 1.0)


def _same_rankings(
    served: dict[tuple[int, bool], Served], bodies: dict[Form, list[dict[str, Any]]], width: int
) -> None:
    """Every form of the first search is ranked alike, or the figures compare unlike work."""
    got = {}
    for form in FORMS:
        answer = _post(
            served[width, form != UNNAMED].url + "/v1/search", orjson.dumps(bodies[form][0])
        )
        got[form] = [(r["item_id"], round(r["score"], 4)) for r in answer["results"]]
    if len({json.dumps(r) for r in got.values()}) != 1:
        raise RuntimeError(f"the forms rank the same search differently at width {width}: {got}")


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    load1 = os.getloadavg()[0]
    return (
        f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load1:.1f} at the start"
    )


@dataclass(frozen=True)
class Figures:
    """What one run measured, by (size, form): the first search's body, ``parse_search`` µs,
    and per round the searches/s and the gateway's CPU ms per search."""

    bodies: dict[Key, bytes]
    parse_us: dict[Key, float]
    searches_s: dict[Key, list[float]]
    cpu_ms: dict[Key, list[float]]


def measure(
    sizes: Sequence[tuple[int, int]], seconds: float, rounds: int, connections: int, repeat: int
) -> Figures:
    bodies = {size: searches(*size) for size in sizes}
    raw = {(size, form): orjson.dumps(bodies[size][form][0]) for size in sizes for form in FORMS}
    with on_core(SERVER_CORE):
        parsed = parse_us(raw, repeat)
    requests = {
        key: encode_requests("127.0.0.1", "/v1/search", bodies[key[0]][key[1]]) for key in raw
    }
    figures = Figures(raw, parsed, {key: [] for key in raw}, {key: [] for key in raw})
    with gateways(sorted({w for _, w in sizes})) as served:
        for size in sizes:
            _same_rankings(served, bodies[size], size[1])
        for n in range(rounds + 1):  # the first a shorter warm-up: connections, batchers
            for key in raw:
                (_, width), form = key
                got = load(
                    served[width, form != UNNAMED],
                    requests[key],
                    seconds if n else min(seconds, 1.0),
                    connections,
                )
                if n:
                    figures.searches_s[key].append(got[0])
                    figures.cpu_ms[key].append(got[1])
    return figures


def run(
    sizes: Sequence[tuple[int, int]],
    seconds: float,
    rounds: int,
    connections: int,
    repeat: int = 7,
) -> list[str]:
    where = machine()
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)  # before this run adds its own load
    figures = measure(sizes, seconds, rounds, connections, repeat)
    lines = [
        "Per size, one linear ONNX ranker (score = features · w) seeded under two cards, one "
        "declaring the width (unnamed arrays), one the names; each card is production of its own "
        f"gateway process (`serve-one`, embedded Redis) on core {SERVER_CORE}. The load generator "
        f"(bench.loadgen, {connections} connections, closed loop, {SEARCHES} distinct searches in "
        f"turn) and Redis on core {CLIENT_CORE}. The searches carry the same SKUs and values "
        "(4 decimals) in every form, and every form's answer is checked to rank alike. Median of "
        f"{rounds} rounds of {seconds:g} s, the forms alternating. Time / unnamed: unnamed "
        "searches/s over the form's; gateway CPU: the gateway process's CPU time per search "
        "answered (less sensitive to other work on the machine than searches/s); parse_search: "
        "the body's decode and validation alone, CPU µs, best of timeit repeats. "
        f"Machine: {where}.",
        "",
        *table(sizes, figures),
    ]
    if busy:
        lines += [
            "",
            "The machine was busy with other work (load average above its core count at the "
            "start): searches/s and their ratios swing from run to run; the CPU columns are "
            "steadier.",
        ]
    return lines


def table(sizes: Sequence[tuple[int, int]], figures: Figures) -> list[str]:
    """The figures against the unnamed path's, and whether issue 21's target holds."""
    lines = [
        "| candidates × features | form | body KiB | searches/s | time / unnamed "
        "| gateway CPU ms / search | CPU / unnamed | parse_search µs | parse / unnamed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for size in sizes:
        base_rate = median(figures.searches_s[size, UNNAMED])
        base_cpu = median(figures.cpu_ms[size, UNNAMED])
        base_parse = figures.parse_us[size, UNNAMED]
        for form in FORMS:
            rate, cpu = median(figures.searches_s[size, form]), median(figures.cpu_ms[size, form])
            cost = base_rate / rate if rate else float("inf")
            parse = figures.parse_us[size, form]
            lines.append(
                f"| {size[0]} × {size[1]} | {form} | {len(figures.bodies[size, form]) / 1024:,.0f} "
                f"| {rate:,.0f} | {cost:.2f}x | {cpu:.2f} | {cpu / base_cpu:.2f}x | {parse:,.0f} "
                f"| {parse / base_parse:.2f}x |"
            )
            if form != UNNAMED:
                verdicts.append(
                    f"{size[0]} × {size[1]}, {form}: **{cost:.2f}x** the unnamed path's time "
                    f"({cpu / base_cpu:.2f}x its CPU), target ≤ {TARGET}x "
                    + ("holds" if cost <= TARGET else "**does not hold**")
                )
    return [*lines, "", "Named features against unnamed arrays: " + "; ".join(verdicts) + "."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    lines = run(SIZES, args.seconds, args.rounds, args.connections)
    return publish("Named features against unnamed arrays", lines, not args.no_write)


if __name__ == "__main__":
    raise SystemExit(main())
