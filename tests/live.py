"""Environment for the project's own processes started by tests (gateways, workers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.metrics import MULTIPROC_ENV, fresh_metrics_dir
from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import free_port
from gateway.settings import Settings


def user_env() -> dict[str, str]:
    """This process's environment as a user's shell has it: no ABGATE_ setting, except the
    suite's own (the gate cache, tests/conftest.py), which changes no behaviour under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABGATE_")}
    if os.environ.get("ABGATE_GATE_CACHE_DIR"):
        env["ABGATE_GATE_CACHE_DIR"] = os.environ["ABGATE_GATE_CACHE_DIR"]
    return env


def gateway_env(settings: Settings, port: int) -> dict[str, str]:
    assert settings.redis_url
    return {
        "REDIS_URL": settings.redis_url,
        "ABGATE_PREFIX": settings.prefix,
        "ABGATE_VAR_DIR": str(settings.var_dir),
        "ABGATE_MODELS_DIR": str(settings.models_dir),
        "ABGATE_SEED_MODELS": str(settings.seed_models_dir),
        "ABGATE_ROUTING": str(settings.routing_file),
        "ABGATE_ADMIN_TOKEN": settings.admin_token,
        "ABGATE_SCORE_TIMEOUT_MS": str(round(settings.score_timeout_s * 1000)),
        "ABGATE_PORT": str(port),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", ""),
        MULTIPROC_ENV: str(fresh_metrics_dir(settings.var_dir, f"{settings.prefix}-{port}")),
        "ABGATE_DEPLOYMENT": f"{settings.prefix}-{port}",
        "ABGATE_SHARDS": str(settings.shards),
        "ABGATE_SERVING_AUTH": settings.serving_auth,
    }


@contextmanager
def one_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    models_dir: Path,
    prefix: str,
    admin_token: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[int, Settings]]:
    """One ``abgate serve-one`` process of its own prefix on a free port (for the module-wide
    fuzz and property tests): yields (port, its settings)."""
    from tests.conftest import TEST_CONFIGS

    settings = replace(
        Settings.from_env(),
        redis_url=redis_url,
        prefix=prefix,
        var_dir=tmp_path_factory.mktemp(f"{prefix}-var"),
        models_dir=tmp_path_factory.mktemp(f"{prefix}-store"),
        seed_models_dir=models_dir,
        routing_file=TEST_CONFIGS / "three_experiments.toml",
        admin_token=admin_token,
        admin_token_is_default=False,
        serving_auth="open",
    )
    port = free_port()
    group = ProcessGroup()
    try:
        group.spawn("gateway", ["serve-one"], gateway_env(settings, port) | (extra_env or {}))
        wait_ready(f"http://127.0.0.1:{port}/readyz", group)
        yield port, settings
    finally:
        group.stop()
