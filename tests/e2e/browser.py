"""A headless browser for the dashboard tests (Debian's chromium through chromedriver), and
helpers to sign in and wait for the page."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import System
from tests.tokens import auth, token_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def get(system: System, path: str, who: str = "vera") -> Any:
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
    # The console, to catch what the pages' Content-Security-Policy blocks.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(predicate: Any, timeout: float = 20.0, what: str = "") -> Any:
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


def sign_in(driver: Any, base: str, who: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/dashboard")
    driver.execute_script("sessionStorage.clear()")
    driver.get(base + "/dashboard")
    wait(lambda: driver.find_element(By.ID, "token").is_displayed(), what="the sign-in form")
    driver.find_element(By.ID, "token").send_keys(token_of(who))
    driver.find_element(By.ID, "sign-in").click()
    wait(lambda: who in driver.find_element(By.ID, "who").text, what="signed in")


def blocked_by_policy(driver: Any) -> list[str]:
    """Console messages of what the Content-Security-Policy refused since the last call."""
    return [
        e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]
    ]
