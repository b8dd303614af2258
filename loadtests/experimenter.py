"""An experimenter: reads the experiments, one experiment's results and the audit trail, and,
when ``LOADTEST_RAMP_KEY`` names a running experiment, ramps its coverage up a step at a
time (audited under the name of ``LOADTEST_TOKEN``'s owner: an experimenter's token, or
``ABGATE_TOKEN`` / ``ABGATE_ADMIN_TOKEN``)."""

from __future__ import annotations

import os

from locust import FastHttpUser, between, task

RAMP_KEY = os.environ.get("LOADTEST_RAMP_KEY", "")
TOKEN = (
    os.environ.get("LOADTEST_TOKEN")
    or os.environ.get("ABGATE_TOKEN")
    or os.environ.get("ABGATE_ADMIN_TOKEN", "")
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAMP_STEP = 0.05


class Experimenter(FastHttpUser):
    fixed_count = 1  # one experimenter however many shoppers
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.ramp()  # a session starts by taking the ramp a step further

    @task(5)
    def read_results(self) -> None:
        response = self.client.get("/v1/experiments", headers=AUTH)
        if response.status_code != 200:
            return
        keys = [e["key"] for e in response.json()["experiments"] if e["status"] == "running"]
        for key in keys[:3]:
            self.client.get(f"/v1/experiments/{key}", name="/v1/experiments/{key}", headers=AUTH)

    @task(2)
    def read_audit(self) -> None:
        self.client.get("/v1/audit?count=50", name="/v1/audit", headers=AUTH)

    @task(1)
    def ramp(self) -> None:
        if not RAMP_KEY:
            return
        current = self.client.get(
            f"/v1/experiments/{RAMP_KEY}", name="/v1/experiments/{key}", headers=AUTH
        )
        if current.status_code != 200:
            return
        experiment = current.json()
        if experiment["status"] != "running" or experiment.get("ramp"):
            return  # concluded, or on a canary schedule that the worker moves
        coverage = min(1.0, round(experiment["coverage"] + RAMP_STEP, 4))
        if coverage == experiment["coverage"]:
            return
        self.client.patch(
            f"/v1/experiments/{RAMP_KEY}",
            json={"coverage": coverage, "reason": "load test ramp"},
            headers=AUTH,
            name="/v1/experiments/{key} (ramp)",
        )
