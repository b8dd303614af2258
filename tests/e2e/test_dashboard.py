"""The results dashboard in a real headless browser (Debian's chromium through chromedriver)
against a live system: two gateway processes, the worker, simulated shoppers over HTTP.

A viewer sees the experiment's chart holding exactly the evaluation points the worker kept,
and no actions; an experimenter stops the experiment through the page, and the audit trail
names them. A screenshot of the experiment page is written to ``ABGATE_SCREENSHOT_DIR`` when
set (docs/dashboard-experiment.png comes from this test)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.browser import blocked_by_policy, browser, get, sign_in, wait
from tests.e2e.conftest import System, seeded_system

__all__ = ["browser"]  # the fixture, used by name


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "dashboard.toml") as running:
        yield running


def _with_arms(system: System) -> list[dict[str, Any]]:
    return [p for p in get(system, "/v1/experiments/better/history")["points"] if p["arms"]]


def test_the_dashboard_shows_the_evaluations_and_takes_an_action(
    system: System, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    traffic = ShopperTraffic(system.base_url, seed=5, concurrency=8, max_shoppers=500)
    assert asyncio.run(traffic.run()).errors == 0
    wait(lambda: len(_with_arms(system)) >= 3, timeout=40, what="three evaluations with arms")

    # A viewer: the experiments, then one experiment with its chart; no actions offered.
    sign_in(browser, system.base_url, "vera")
    wait(lambda: browser.find_element(By.CSS_SELECTOR, "#experiments tr[data-key='better']"),
          what="the experiments table")  # fmt: skip
    browser.find_element(By.LINK_TEXT, "better").click()
    svg = wait(lambda: browser.find_element(By.CSS_SELECTOR, "#chart svg.lift-chart"),
                what="the chart")  # fmt: skip
    drawn_points = int(svg.get_attribute("data-points"))
    circles = browser.find_elements(By.CSS_SELECTOR, "#chart circle.point")
    history = get(system, "/v1/experiments/better/history")["points"]
    assert len(history) >= drawn_points >= 3  # the history only grows (no thinning yet)
    by_ts = {round(p["ts"], 3): p for p in history}
    arms = {c.get_attribute("data-arm") for c in circles}
    assert arms == {"candidate"}
    # One point per evaluation of the one treatment (from the first with a planned test).
    assert len(circles) == sum(1 for p in history[:drawn_points] if p["arms"]) >= 3
    for circle in circles:
        point = by_ts[round(float(circle.get_attribute("data-ts")), 3)]
        (arm,) = point["arms"]
        assert float(circle.get_attribute("data-estimate")) == pytest.approx(
            arm["estimate"], rel=1e-5
        )
    users = browser.find_elements(By.CSS_SELECTOR, "#arms td.users")
    assert len(users) == 2 and all(int(u.text) > 0 for u in users)
    assert browser.find_element(By.ID, "srm").text.startswith("SRM p-value")
    assert not browser.find_elements(By.ID, "stop")  # a viewer takes no action
    shots = [tmp_path / "dashboard-experiment.png"]
    if os.environ.get("ABGATE_SCREENSHOT_DIR"):
        shots.append(Path(os.environ["ABGATE_SCREENSHOT_DIR"]) / "dashboard-experiment.png")
    for shot in shots:
        assert browser.save_screenshot(str(shot))

    # An experimenter stops the experiment through the page; the trail names them.
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, system.base_url, "ed")
    browser.get(system.base_url + "/dashboard#/experiments/better")
    stop = wait(lambda: browser.find_element(By.ID, "stop"), what="the stop button")
    assert not browser.find_elements(By.ID, "promote")  # promoting moves production: admin
    browser.find_element(By.ID, "reason").send_keys("stopped from the dashboard test")
    stop.click()
    wait(lambda: browser.find_element(By.ID, "status").text == "concluded", what="concluded")
    assert get(system, "/v1/experiments/better")["status"] == "concluded"
    entry = get(system, "/v1/audit?count=1")["entries"][0]
    assert entry["actor"] == "ed" and "stopped from the dashboard test" in entry["reason"]

    # The model versions with their gates, production with its history, the audit trail.
    browser.get(system.base_url + "/dashboard#/models")
    row = wait(lambda: browser.find_element(By.CSS_SELECTOR, "#models tr[data-version='cand-v2']"),
                what="the models table")  # fmt: skip
    gates = [g.text for g in row.find_elements(By.CSS_SELECTOR, ".gate .badge")]
    assert {"integrity", "offline_quality", "latency"} <= set(gates)
    assert row.find_elements(By.CSS_SELECTOR, "button.retire")  # an experimenter may retire
    assert not browser.find_elements(By.CSS_SELECTOR, "button.override")  # admin only
    browser.get(system.base_url + "/dashboard#/production")
    wait(lambda: browser.find_element(By.ID, "production").text == "prod-v1", what="production")
    assert not browser.find_elements(By.ID, "rollback")  # admin only
    browser.get(system.base_url + "/dashboard#/audit")
    rows = wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr"), what="audit")
    assert any("stopped from the dashboard test" in r.text for r in rows)
    # The API reference renders under the same policy; neither page had anything blocked.
    browser.get(system.base_url + "/docs")
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), what="the API reference")
    assert blocked_by_policy(browser) == []
