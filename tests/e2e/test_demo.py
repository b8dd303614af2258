"""`abgate run` (what `make run` starts) tells the lifecycle end to end and stops by itself:
production prod-v1, cand-v2 registered and gated, promoted by its experiment, worse-v0
failing its offline gate, forced through and rolled back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis

from gateway.redis_server import EmbeddedRedis, free_port
from gateway.settings import ROOT
from tests.live import user_env


def _a_served_deployment(var: Path) -> tuple[Path, bytes]:
    """What `abgate serve` leaves in a checkout's var/: its embedded Redis's data (here a
    registered model and an audit entry) and a spool file of acknowledged events."""
    server = EmbeddedRedis(var / "redis" / "abgate").start()
    try:
        client = redis.Redis.from_url(server.url)
        client.hset("{abgate}:models", "mine-v1", b"{}")
        client.xadd("{abgate}:audit", {"e": b"{}"})
        client.close()
    finally:
        server.stop()
    spooled = var / "spool" / "abgate" / "0001.jsonl"
    spooled.parent.mkdir(parents=True)
    spooled.write_bytes(b'["{abgate.0}:stream:outcomes", "acknowledged"]\n')
    return spooled, spooled.read_bytes()


def test_make_run_tells_the_lifecycle(models_dir: Path, tmp_path: Path) -> None:
    var = tmp_path / "var"
    spooled, spool_bytes = _a_served_deployment(var)
    env = {k: v for k, v in user_env().items() if k != "REDIS_URL"}
    env |= {
        "ABGATE_VAR_DIR": str(var),
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
        "== what next: the dashboard, http://127.0.0.1:",
        "export ABGATE_URL=http://127.0.0.1:",
        "abgate experiments show ranker-cand-v2",
        "stopped cleanly.",
    ]
    position = 0
    for line in story:
        found = out.find(line, position)
        assert found >= 0, (line, out[-3000:])
        position = found + len(line)
    # The story has stdout and stderr to itself: the processes log to a file of the demo's.
    assert '"level"' not in out + done.stderr, done.stderr[-3000:]
    (log,) = (var / "demo" / "logs").glob("demo-*.log")
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert logged and all(entry["pid"] for entry in logged)
    # The served deployment's data and spool are as they were; the demo kept to var/demo/.
    assert spooled.read_bytes() == spool_bytes
    server = EmbeddedRedis(var / "redis" / "abgate").start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.hkeys("{abgate}:models") == [b"mine-v1"]
        assert client.xlen("{abgate}:audit") == 1
        client.close()
    finally:
        server.stop()
    assert (var / "demo" / "redis").is_dir()
