"""`abgate run` (what `make run` starts) tells the lifecycle end to end and stops by itself:
production prod-v1, cand-v2 registered and gated, promoted by its experiment, worse-v0
failing its offline gate, forced through and rolled back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.redis_server import free_port
from gateway.settings import ROOT


def test_make_run_tells_the_lifecycle(models_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABGATE_") and k != "REDIS_URL"}
    env |= {
        "ABGATE_VAR_DIR": str(tmp_path / "var"),
        "ABGATE_SEED_MODELS": str(models_dir),
        "ABGATE_PORT": str(free_port()),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--exit-after-decision",
            "--progress-every",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    story = [
        "== 1. production is prod-v1; no experiment runs",
        "gates of cand-v2: PASSED",
        "[pass] offline_quality: NDCG@10",
        "experiment ranker-cand-v2 started",
        "*** DECISION",
        "production: prod-v1 -> cand-v2",
        "production is now cand-v2 (outcome promoted)",
        "gates of worse-v0: FAILED",
        "[FAIL] offline_quality",
        "starting an experiment with it is refused",
        "forcing it through",
        "ranker-worse-v0: rolled_back; production stays cand-v2",
        "stopped cleanly.",
    ]
    position = 0
    for line in story:
        found = out.find(line, position)
        assert found >= 0, (line, out[-3000:])
        position = found + len(line)
