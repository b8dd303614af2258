"""Every ``abgate`` line of the README's cheat-sheet, run as written — the CLI the README
names, `.venv/bin/abgate` — against a live system (two gateway processes, real Redis, real
HTTP) in the state `make run` leaves: production prod-v1, then cand-v2 promoted by the
experiment ranker-cand-v2. Each line must exit as documented: 0, or the code its comment
gives (``# exit N``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from gateway.client import AdminClient, ApiError
from gateway.settings import ROOT, Settings
from tests.conftest import TEST_CONFIGS
from tests.docs.readme import cheat_sheet, cli_lines
from tests.e2e.conftest import running_system

ABGATE = Path(sys.executable).parent / "abgate"


def _promote(client: AdminClient) -> None:
    """The demo's decision, by hand: retried while cand-v2 is not yet loaded everywhere."""
    deadline = time.monotonic() + 60
    while True:
        try:
            client.request(
                "POST", "/v1/experiments/ranker-cand-v2/promote", {"reason": "won on conversion"}
            )
            return
        except ApiError as exc:
            assert exc.status == 409 and time.monotonic() < deadline, exc
            time.sleep(0.2)


def test_every_line_of_the_cheat_sheet_runs_as_written(
    settings: Settings, models_dir: Path
) -> None:
    sheet = cheat_sheet()
    assert any(line.startswith("export ABGATE_URL=") and "ABGATE_TOKEN=" in line for line in sheet)
    lines = cli_lines(sheet)
    assert len(lines) >= 20
    seeded = replace(settings, routing_file=TEST_CONFIGS / "demo_told.toml")
    with running_system(seeded) as system:
        _promote(AdminClient(system.base_url, settings.admin_token))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ABGATE_")}
        env |= {"ABGATE_URL": system.base_url, "ABGATE_TOKEN": settings.admin_token}
        failed = []
        for line in lines:
            done = subprocess.run(
                [str(ABGATE), *line.argv[1:]],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != line.exit_code or "Traceback" in done.stderr:
                last = (done.stderr.strip().splitlines() or [""])[-1][:300]
                failed.append(f"{line.text}\n    exit {done.returncode}: {last}")
    assert not failed, "lines that did not exit as documented:\n" + "\n".join(failed)
