"""The dynamic batcher over a real ONNX model: batching, cancellation, failures, overload."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import ConfigError, InferenceError, Overloaded
from gateway.inference.batch import MergedBatch, merge
from gateway.inference.batcher import BatchPolicy, DynamicBatcher
from gateway.inference.registry import LoadedModel, sha256_file
from gateway.inference.session import SessionOptions
from gateway.models.card import read_declaration

QUERIES = [
    "waterproof shoes",
    "wireless headphones",
    "brand03 tent",
    "kids bicycle",
    "premium watch",
]


@pytest.fixture
def model(models_dir: Path) -> LoadedModel:
    return LoadedModel(
        read_declaration(models_dir / "cand-v2" / "card.json"),
        models_dir / "cand-v2" / "model.onnx",
        BatchPolicy(),
        SessionOptions(),
    )


@pytest.mark.parametrize("inline", [False, True])
async def test_batched_scores_equal_unbatched_scores(model: LoadedModel, inline: bool) -> None:
    """On the runner thread, and inline on the event loop's (a process on one CPU)."""
    policy = BatchPolicy(max_batch_pairs=4096, max_wait_s=0.05, inline=inline)
    batcher = DynamicBatcher("b", model.score, policy)
    batcher.start()
    items = [list(range(i * 7, i * 7 + 20)) for i in range(len(QUERIES))]
    try:
        results = await asyncio.gather(
            *(batcher.rank(model.prepare(q, it)) for q, it in zip(QUERIES, items, strict=True))
        )
    finally:
        await batcher.close()
    assert batcher.stats()["batches"] == 1 and batcher.stats()["requests"] == len(QUERIES)
    for query, its, got in zip(QUERIES, items, results, strict=True):
        inp = model.prepare(query, its)
        alone = model.session.run(
            None,
            {
                "query_tokens": np.tile(inp.per_request["query_tokens"], (len(its), 1)),
                "item_index": inp.per_pair["item_index"],
            },
        )[0]
        np.testing.assert_allclose(got, alone, rtol=1e-5)
        np.testing.assert_allclose(model.score(merge([inp])), alone, rtol=1e-5)


async def test_batches_close_at_max_pairs(model: LoadedModel) -> None:
    batcher = DynamicBatcher("b", model.score, BatchPolicy(max_batch_pairs=40, max_wait_s=0.05))
    batcher.start()
    try:
        await asyncio.gather(
            *(batcher.rank(model.prepare("tent", list(range(20)))) for _ in range(6))
        )
    finally:
        await batcher.close()
    assert batcher.stats()["batches"] == 3 and batcher.stats()["pairs"] == 120


async def test_a_request_cancelled_while_its_batch_runs_does_not_hang_the_others(
    model: LoadedModel,
) -> None:
    running, release = threading.Event(), threading.Event()

    def gated_score(batch: MergedBatch) -> np.ndarray:
        running.set()
        release.wait(
            5
        )  # fault injection: hold the real model call until the test cancels one request
        return model.score(batch)

    batcher = DynamicBatcher("b", gated_score, BatchPolicy(max_batch_pairs=4096, max_wait_s=0.05))
    batcher.start()
    try:
        tasks = [
            asyncio.create_task(batcher.rank(model.prepare(q, list(range(10))))) for q in QUERIES
        ]
        await asyncio.to_thread(running.wait, 5)
        tasks[1].cancel()
        release.set()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    finally:
        await batcher.close()
    assert isinstance(done[1], asyncio.CancelledError)
    assert all(isinstance(r, np.ndarray) and r.shape == (10,) for i, r in enumerate(done) if i != 1)
    assert batcher.stats()["batches"] == 1 and batcher.stats()["requests"] == len(QUERIES)


async def test_a_failed_batch_fails_every_request_and_the_batcher_lives_on(
    model: LoadedModel,
) -> None:
    calls = {"n": 0}

    def flaky(batch: MergedBatch) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault")
        return model.score(batch)

    batcher = DynamicBatcher("b", flaky, BatchPolicy(max_wait_s=0.05))
    batcher.start()
    try:
        first = await asyncio.gather(
            *(batcher.rank(model.prepare("x", [1, 2])) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, InferenceError) and "injected fault" in str(r) for r in first)
        assert (await batcher.rank(model.prepare("x", [1, 2]))).shape == (2,)
    finally:
        await batcher.close()


async def test_full_queue_is_refused_fast(model: LoadedModel) -> None:
    batcher = DynamicBatcher(
        "b", model.score, BatchPolicy(max_queue=2)
    )  # not started: nothing drains
    first = [asyncio.create_task(batcher.rank(model.prepare("x", [1]))) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="queue full"):
        await batcher.rank(model.prepare("x", [1]))
    await batcher.close()
    assert all(
        isinstance(r, InferenceError) for r in await asyncio.gather(*first, return_exceptions=True)
    )


def test_loading_verifies_sha256_and_the_declared_signature(
    models_dir: Path, tmp_path: Path
) -> None:
    declaration = read_declaration(models_dir / "prod-v1" / "card.json")
    path = models_dir / "prod-v1" / "model.onnx"
    model = LoadedModel(declaration, path, BatchPolicy(), SessionOptions(), sha256_file(path))
    assert model.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    tampered = tmp_path / "model.onnx"
    tampered.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ConfigError, match="does not match its card"):
        LoadedModel(declaration, tampered, BatchPolicy(), SessionOptions(), sha256_file(path))
    with pytest.raises(ConfigError, match="not a loadable ONNX model"):
        LoadedModel(declaration, tampered, BatchPolicy(), SessionOptions())


def test_demo_cards_declare_their_inputs_and_quality(models_dir: Path) -> None:
    cards = {
        v: read_declaration(models_dir / v / "card.json")
        for v in ("prod-v1", "cand-v2", "worse-v0")
    }
    ndcg = {v: c.offline_metrics["ndcg_at_10"] for v, c in cards.items()}
    assert ndcg["cand-v2"] > ndcg["prod-v1"] > ndcg["worse-v0"]
    for card in cards.values():
        assert [(i.name, i.source) for i in card.inputs] == [
            ("query_tokens", "query_tokens"),
            ("item_index", "item_ids"),
        ]
