"""A gateway refuses a port that another deployment's gateways answer on: SO_REUSEPORT would
otherwise let it silently take a share of their traffic."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from gateway.settings import ROOT
from tests.e2e.conftest import System


def test_a_second_deployment_on_the_same_port_is_refused(system: System, tmp_path: Path) -> None:
    port = urlsplit(system.base_url).port
    assert port is not None
    settings = system.settings
    assert settings.redis_url
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "ABGATE_PREFIX": "intruder",  # its own state: only the port is shared
        "ABGATE_VAR_DIR": str(tmp_path),
        "ABGATE_MODELS_DIR": str(settings.models_dir),
        "ABGATE_SEED_MODELS": str(settings.seed_models_dir),
        "ABGATE_ROUTING": str(settings.routing_file),
        "ABGATE_PORT": str(port),
        "ABGATE_DEPLOYMENT": "intruder",
        "ABGATE_ADMIN_TOKEN": "intruder-secret",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve-one"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "refusing to share it" in done.stderr and "another abgate deployment" in done.stderr
    assert "Traceback" not in done.stderr
    with urllib.request.urlopen(system.base_url + "/readyz") as response:
        assert response.status == 200  # the deployment that had the port still serves
