"""The CLI's admin verbs against a live system (two gateway processes), and a clear error —
not a traceback — when the gateway is down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gateway.redis_server import free_port
from gateway.settings import ROOT
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System
from tests.live import gateway_env
from tests.tokens import token_of


def _abgate(
    system: System | None, *args: str, url: str | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ABGATE_TOKEN=token or token_of("dave"))
    base = url or (system.base_url if system else "")
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--url", base],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_register_create_start_stop_production_freeze(system: System, models_dir: Path) -> None:
    onnx = models_dir / "cand-v2" / "model.onnx"  # its card.json lies beside it
    card = _json(
        _abgate(system, "models", "register", str(onnx), "--version", "cand-v9", "--notes", "cli")
    )
    assert (card["version"], card["notes"], card["registered_by"]) == ("cand-v9", "cli", "dave")
    listed = _abgate(system, "models", "list")
    assert "cand-v9" in listed.stdout and "prod-v1" in listed.stdout
    # The README's ramp example: new weights start a new phase of the running experiment.
    ramped = _json(
        _abgate(
            system, "set", "better", "--weights", "control=0.9,candidate=0.1", "--reason", "ramp"
        )
    )
    assert ramped["experiment"]["phases"][-1]["weights"] == [0.9, 0.1]
    for key in ("better", "worse", "aa"):
        _json(_abgate(system, "experiments", "stop", key, "--reason", "cli test"))
    created = _json(
        _abgate(
            system, "experiments", "create", str(ROOT / "configs" / "demo" / "ranker-cand-v2.toml")
        )
    )
    assert created["experiment"]["status"] == "draft"
    started = _json(_abgate(system, "experiments", "start", "ranker-cand-v2"))
    assert started["experiment"]["status"] == "running"
    refused = _abgate(system, "experiments", "start", "ranker-cand-v2")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "409: experiment 'ranker-cand-v2' is running" in refused.stderr
    _json(_abgate(system, "production", "set", "cand-v2", "--reason", "cli"))
    back = _json(_abgate(system, "production", "rollback", "--reason", "cli"))
    assert back["production"] == "prod-v1"
    shadows = _json(_abgate(system, "shadow", "set", "cand-v9", "--share", "0.5"))["shadows"]
    assert shadows == [{"version": "cand-v9", "share": 0.5}]
    assert _json(_abgate(system, "shadow", "list"))["shadows"][0]["version"] == "cand-v9"
    assert _json(_abgate(system, "shadow", "stop", "cand-v9"))["shadows"] == []
    frozen = _json(_abgate(system, "freeze", "--reason", "cli"))
    assert frozen["frozen"] is True
    assert _json(_abgate(system, "unfreeze"))["frozen"] is False
    history = _json(_abgate(system, "production", "show"))["history"]
    assert [h["actor"] for h in history[:2]] == ["dave", "dave"]


def test_a_gateway_that_is_down_is_named_without_a_traceback() -> None:
    done = _abgate(None, "models", "list", url=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach the gateway" in done.stderr and "Traceback" not in done.stderr


def test_get_ramp_watch_audit_version_and_the_url_from_the_environment(system: System) -> None:
    got = _json(_abgate(system, "experiments", "get", "better"))
    assert got["key"] == "better" and got["status"] == "running"
    ramped = _json(
        _abgate(system, "experiments", "ramp", "better", "--coverage", "0.6", "--reason", "step")
    )
    assert ramped["experiment"]["coverage"] == 0.6
    bad = _abgate(
        system, "experiments", "ramp", "better", "--weights", "control=x", "--reason", "r"
    )
    assert bad.returncode == 2 and "--weights" in bad.stderr and "Traceback" not in bad.stderr
    neither = _abgate(system, "experiments", "ramp", "better", "--reason", "r")
    assert neither.returncode == 2 and "give --coverage, --weights or both" in neither.stderr
    system.group.spawn("worker", ["worker", "--interval", "0.5"], gateway_env(system.settings, 0))
    traffic = ShopperTraffic(system.base_url, seed=3, concurrency=8, max_shoppers=300)
    assert asyncio.run(traffic.run()).errors == 0
    for _ in range(50):
        if _json(_abgate(system, "experiments", "get", "better"))["last_evaluation"]:
            break
        time.sleep(0.2)
    watched = _abgate(system, "experiments", "watch", "better", "--times", "2", "--interval", "0.1")
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.count("better: running") == 2 and "decision:" in watched.stdout
    one = _abgate(system, "experiments", "watch", "better", "--times", "1", "--json")
    assert json.loads(one.stdout)["key"] == "better"
    log = _abgate(system, "audit", "--count", "5")
    assert log.returncode == 0 and "dave" in log.stdout and "step" in log.stdout
    assert json.loads(_abgate(system, "audit", "--count", "2", "--json").stdout)["entries"]
    version = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("abgate ")
    # no --url: ABGATE_URL says where the gateway is
    env = dict(os.environ, ABGATE_URL=system.base_url, ABGATE_ADMIN_TOKEN="test-token")
    listed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "experiments", "list"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and json.loads(listed.stdout)["production"]


def test_tokens_create_whoami_refuse_and_revoke(system: System) -> None:
    created = _json(_abgate(system, "tokens", "create", "zoe", "--role", "experimenter"))
    token = created["token"]
    assert created["role"] == "experimenter" and created["created_by"] == "dave"
    assert _json(_abgate(system, "whoami", token=token)) == {"name": "zoe", "role": "experimenter"}
    listed = _json(_abgate(system, "tokens", "list"))["tokens"]
    assert {"zoe", "vera"} <= {t["name"] for t in listed}
    assert all("token" not in t and "sha256" not in t for t in listed)
    # An experimenter ramps (audited as zoe) but may not move production.
    ramped = _abgate(system, "experiments", "ramp", "better", "--coverage", "0.6", "--reason", "r",
                     token=token)  # fmt: skip
    assert ramped.returncode == 0, ramped.stderr
    assert _json(_abgate(system, "audit", "--json", "--count", "1"))["entries"][0]["actor"] == "zoe"
    refused = _abgate(system, "production", "set", "cand-v2", "--reason", "r", token=token)
    assert refused.returncode != 0 and "403" in refused.stderr and "needs admin" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    _json(_abgate(system, "tokens", "revoke", "zoe"))
    time.sleep(1.2)  # every process re-reads the tokens at least once a second
    gone = _abgate(system, "whoami", token=token)
    assert gone.returncode != 0 and "401" in gone.stderr
