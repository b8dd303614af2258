"""The model registry against the real Redis: its store, its claims, a registrar that gates
in real child processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.inference.session import SessionOptions
from gateway.keys import Keys
from gateway.models.artifacts import ArtifactStore
from gateway.models.gate_policy import GatePolicy
from gateway.models.registrar import Registrar
from gateway.models.store import ModelStore
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis
from gateway.settings import ROOT

EVAL_FILE = ROOT / "configs" / "eval" / "storefront-heldout.jsonl"


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = redis_client(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def model_store(redis: Redis, prefix: str) -> ModelStore:
    return ModelStore(redis, Keys(prefix))


@pytest.fixture
def registrar(model_store: ModelStore, tmp_path: Path) -> Registrar:
    """Gates with a 3 s deadline (ABGATE_GATE_TIMEOUT_S=3)."""
    return Registrar(
        model_store,
        ArtifactStore(tmp_path / "model-store"),
        SessionOptions(prefer_cuda=False),
        GatePolicy(),
        EVAL_FILE,
        gate_timeout_s=3.0,
    )
