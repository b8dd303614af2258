"""The real system as subprocesses: `abgate serve` (two processes) and `abgate worker`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.processes import ProcessGroup, wait_ready
from gateway.redis_server import free_port
from gateway.settings import Settings


@dataclass
class System:
    base_url: str
    settings: Settings
    group: ProcessGroup


def _env(settings: Settings, port: int) -> dict[str, str]:
    assert settings.redis_url
    return {
        "REDIS_URL": settings.redis_url,
        "ABGATE_PREFIX": settings.prefix,
        "ABGATE_VAR_DIR": str(settings.var_dir),
        "ABGATE_MODELS_DIR": str(settings.models_dir),
        "ABGATE_ROUTING": str(settings.routing_file),
        "ABGATE_ADMIN_TOKEN": settings.admin_token,
        "ABGATE_PORT": str(port),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", ""),
    }


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    port = free_port()
    group = ProcessGroup()
    env = _env(settings, port)
    try:
        for i in range(2):
            group.spawn(f"gateway-{i}", ["serve-one"], env)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", group, processes=2)
        yield System(base, settings, group)
    finally:
        group.stop()


@pytest.fixture
def worker(system: System) -> Iterator[None]:
    system.group.spawn("worker", ["worker", "--interval", "1"], _env(system.settings, 0))
    yield
