"""``make bench``: what dynamic batching buys on ONNX Runtime, against one run per request.

Three ways to score the same requests (a query and 50 candidates each) with
the demo ranker, measured in this run:

1. baseline: one ``session.run`` per request, one after another;
2. the gateway's path: ``LoadedModel.rank`` (the DynamicBatcher) with many
   requests in flight at once, as concurrent shoppers produce them;
3. the ceiling: requests pre-merged into batches of 64, no queue or timers.

It prints requests/s for each and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import numpy as np

from gateway.inference.batch import RankInput, merge
from gateway.inference.batcher import BatchPolicy
from gateway.inference.registry import LoadedModel
from gateway.inference.session import SessionOptions
from gateway.models.card import read_declaration
from sim.build import ensure_demo_models

WORDS = ("red", "running", "shoes", "kitchen", "knife", "wireless", "headphones", "desk", "lamp")


def _requests(model: LoadedModel, count: int, candidates: int, seed: int) -> list[RankInput]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        query = " ".join(rng.choice(WORDS, size=3))
        num_items = next(i.num_items for i in model.declaration.inputs if i.source == "item_ids")
        items = rng.integers(0, num_items, size=candidates).tolist()
        out.append(model.prepare(query, items))
    return out


def _baseline(model: LoadedModel, inputs: list[RankInput]) -> float:
    started = time.perf_counter()
    for one in inputs:
        model.score(merge([one]))
    return len(inputs) / (time.perf_counter() - started)


def _ceiling(model: LoadedModel, inputs: list[RankInput], size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(inputs), size):
        model.score(merge(inputs[i : i + size]))
    return len(inputs) / (time.perf_counter() - started)


async def _batched(model: LoadedModel, inputs: list[RankInput], in_flight: int) -> float:
    model.batcher.start()
    gate = asyncio.Semaphore(in_flight)

    async def one(x: RankInput) -> None:
        async with gate:
            await model.batcher.rank(x)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(x) for x in inputs))
        return len(inputs) / (time.perf_counter() - started)
    finally:
        await model.batcher.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batching", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("var/demo-models"))
    parser.add_argument("--version", default="cand-v2")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args(argv)
    ensure_demo_models(args.models_dir, log=lambda *a: None)
    directory = args.models_dir / args.version
    model = LoadedModel(
        read_declaration(directory / "card.json"),
        directory / "model.onnx",
        BatchPolicy(),
        SessionOptions(),
    )
    inputs = _requests(model, args.requests, args.candidates, seed=1)
    _baseline(model, inputs[:200])  # warm-up
    base = _baseline(model, inputs)
    batched = asyncio.run(_batched(model, inputs, args.in_flight))
    ceiling = _ceiling(model, inputs, args.in_flight)
    print(
        f"model {args.version} on {model.provider}, {args.requests} requests x {args.candidates} candidates"
    )
    print(f"  one run per request (baseline)  {base:9.0f} req/s   1.00x")
    print(
        f"  dynamic batcher, {args.in_flight} in flight   {batched:9.0f} req/s   {batched / base:.2f}x"
    )
    print(
        f"  pre-merged batches of {args.in_flight} (ceiling) {ceiling:9.0f} req/s   {ceiling / base:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
