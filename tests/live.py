"""Environment for the project's own processes started by tests (gateways, workers)."""

from __future__ import annotations

import os

from gateway.metrics import MULTIPROC_ENV, fresh_metrics_dir
from gateway.settings import Settings


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
        "ABGATE_PORT": str(port),
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", ""),
        MULTIPROC_ENV: str(fresh_metrics_dir(settings.var_dir, f"{settings.prefix}-{port}")),
        "ABGATE_DEPLOYMENT": f"{settings.prefix}-{port}",
    }
