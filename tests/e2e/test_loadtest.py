"""The locust scenarios (loadtests/) against a live system, briefly: shoppers search and send
events, the experimenter reads results and ramps an experiment, and nothing fails."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from gateway.settings import ROOT
from tests.e2e.conftest import System
from tests.tokens import auth, token_of


def test_a_short_locust_run_has_no_failures(system: System, tmp_path: Path) -> None:
    url = f"{system.base_url}/v1/experiments/better"
    assert _call("PATCH", url, system, {"coverage": 0.5, "reason": "room to ramp"}) == 200
    env = {
        **os.environ,
        "LOADTEST_THINK_S": "0.2",
        "LOADTEST_RAMP_KEY": "better",
        "LOADTEST_TOKEN": token_of("ed"),  # an experimenter
    }
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless",
         "--only-summary", "--users", "6", "--spawn-rate", "6", "--run-time", "6s",
         "--host", system.base_url, "--stop-timeout", "3", "--csv", str(tmp_path / "run")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "run_stats.csv", encoding="utf-8") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["/v1/search"]["Request Count"]) > 0  # how many: the machine's, not asserted
    assert int(rows["/v1/events"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert int(rows["/v1/experiments/{key}"]["Request Count"]) > 0
    assert int(rows["/v1/experiments/{key} (ramp)"]["Request Count"]) > 0
    with urllib.request.urlopen(urllib.request.Request(url, headers=auth("vera"))) as response:
        assert json.loads(response.read())["coverage"] > 0.5  # ramped, by the experimenter
    audit = urllib.request.Request(f"{system.base_url}/v1/audit?count=20", headers=auth("vera"))
    with urllib.request.urlopen(audit) as response:
        assert any(e["actor"] == "ed" for e in json.loads(response.read())["entries"])


def _call(method: str, url: str, system: System, body: object) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {system.settings.admin_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as response:
        return int(response.status)
