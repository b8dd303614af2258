"""The results dashboard in a real headless browser (Debian's chromium through chromedriver)
against a live system: two gateway processes, the worker, simulated shoppers over HTTP.

A viewer sees the experiment's chart holding exactly the evaluation points the worker kept,
and no actions; an experimenter stops the experiment through the page, and the audit trail
names them. A screenshot of the experiment page is written to ``ABGATE_SCREENSHOT_DIR`` when
set (docs/dashboard-experiment.png comes from this test)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System, seeded_system
from tests.tokens import auth, token_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _get(system: System, path: str, who: str = "vera") -> Any:
    request = urllib.request.Request(system.base_url + path, headers=auth(who))
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("ABGATE_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "chromium and chromedriver are needed: apt-get install chromium chromium-driver"
            )
        pytest.skip("no chromium/chromedriver here (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1500"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(predicate: Any, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # the page is between two renders
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _sign_in(driver: Any, base: str, who: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/dashboard")
    driver.execute_script("sessionStorage.clear()")
    driver.get(base + "/dashboard")
    _wait(lambda: driver.find_element(By.ID, "token").is_displayed(), what="the sign-in form")
    driver.find_element(By.ID, "token").send_keys(token_of(who))
    driver.find_element(By.ID, "sign-in").click()
    _wait(lambda: who in driver.find_element(By.ID, "who").text, what="signed in")


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "dashboard.toml") as running:
        yield running


def _with_arms(system: System) -> list[dict[str, Any]]:
    return [p for p in _get(system, "/v1/experiments/better/history")["points"] if p["arms"]]


def test_the_dashboard_shows_the_evaluations_and_takes_an_action(
    system: System, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    traffic = ShopperTraffic(system.base_url, seed=5, concurrency=8, max_shoppers=500)
    assert asyncio.run(traffic.run()).errors == 0
    _wait(lambda: len(_with_arms(system)) >= 3, timeout=40, what="three evaluations with arms")

    # A viewer: the experiments, then one experiment with its chart; no actions offered.
    _sign_in(browser, system.base_url, "vera")
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, "#experiments tr[data-key='better']"),
          what="the experiments table")  # fmt: skip
    browser.find_element(By.LINK_TEXT, "better").click()
    svg = _wait(lambda: browser.find_element(By.CSS_SELECTOR, "#chart svg.lift-chart"),
                what="the chart")  # fmt: skip
    drawn_points = int(svg.get_attribute("data-points"))
    circles = browser.find_elements(By.CSS_SELECTOR, "#chart circle.point")
    history = _get(system, "/v1/experiments/better/history")["points"]
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
    _sign_in(browser, system.base_url, "ed")
    browser.get(system.base_url + "/dashboard#/experiments/better")
    stop = _wait(lambda: browser.find_element(By.ID, "stop"), what="the stop button")
    assert not browser.find_elements(By.ID, "promote")  # promoting moves production: admin
    browser.find_element(By.ID, "reason").send_keys("stopped from the dashboard test")
    stop.click()
    _wait(lambda: browser.find_element(By.ID, "status").text == "concluded", what="concluded")
    assert _get(system, "/v1/experiments/better")["status"] == "concluded"
    entry = _get(system, "/v1/audit?count=1")["entries"][0]
    assert entry["actor"] == "ed" and "stopped from the dashboard test" in entry["reason"]

    # The model versions with their gates, production with its history, the audit trail.
    browser.get(system.base_url + "/dashboard#/models")
    row = _wait(lambda: browser.find_element(By.CSS_SELECTOR, "#models tr[data-version='cand-v2']"),
                what="the models table")  # fmt: skip
    gates = [g.text for g in row.find_elements(By.CSS_SELECTOR, ".gate .badge")]
    assert {"integrity", "offline_quality", "latency"} <= set(gates)
    assert row.find_elements(By.CSS_SELECTOR, "button.retire")  # an experimenter may retire
    assert not browser.find_elements(By.CSS_SELECTOR, "button.override")  # admin only
    browser.get(system.base_url + "/dashboard#/production")
    _wait(lambda: browser.find_element(By.ID, "production").text == "prod-v1", what="production")
    assert not browser.find_elements(By.ID, "rollback")  # admin only
    browser.get(system.base_url + "/dashboard#/audit")
    rows = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr"), what="audit")
    assert any("stopped from the dashboard test" in r.text for r in rows)
