"""The results dashboard in a real headless browser (Debian's chromium through chromedriver)
against a live system: two gateway processes, the worker, simulated shoppers over HTTP.

A viewer sees the experiment's chart holding exactly the evaluation points the worker kept,
its results (every metric of every arm: value, count, lift, interval, p, test, role; the search
funnel's steps; the time to decision; each arm's health) as the API has them, and no actions; an experimenter pauses, resumes and stops the experiment through the page,
each with the reason typed there, and retires a version once nothing uses it; an admin
overrides a version's failed gates from the page, which then reads "overridden" and offers
neither an override nor (while an experiment names it) a retire; the audit page names each
entry's subjects and filters by one. A screenshot of the experiment page is written to ``ABGATE_SCREENSHOT_DIR`` when
set (docs/dashboard-experiment.png comes from this test)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.browser import blocked_by_policy, browser, get, sign_in, wait
from tests.e2e.conftest import Api, System, seeded_system
from tests.http.test_models import form
from tests.tokens import auth

__all__ = ["browser"]  # the fixture, used by name


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "dashboard.toml") as running:
        yield running


def _with_arms(system: System) -> list[dict[str, Any]]:
    return [p for p in get(system, "/v1/experiments/better/history")["points"] if p["arms"]]


def _send(system: System, method: str, path: str, body: Any, who: str = "carol") -> Any:
    request = urllib.request.Request(
        system.base_url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers=auth(who) | {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _register(system: System, models_dir: Path, version: str) -> None:
    """Upload a demo version (its gates then run in the background)."""

    async def upload() -> None:
        import aiohttp

        card = json.loads((models_dir / version / "card.json").read_text())
        onnx = (models_dir / version / "model.onnx").read_bytes()
        async with aiohttp.ClientSession() as session:
            await Api(session, system.base_url).call(
                "POST", "/v1/models", 202, data=form(card, onnx)
            )

    asyncio.run(upload())


def _audit(system: System, query: str = "") -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = get(system, f"/v1/audit?count=200{query}")["entries"]
    return entries


def _row(browser: Any, version: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f"#models tr[data-version='{version}']")


def _redrawn(node: Any) -> bool:
    """Whether the page was drawn again since ``node`` was found (it left the page)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        node.is_enabled()
    except StaleElementReferenceException:
        return True
    return False


def _texts(browser: Any, css: str, attribute: str = "") -> list[str]:
    """The text (or an attribute) of every element ``css`` selects, read in one go: the
    experiment page draws itself again every 3 s, which leaves found elements stale."""
    script = "return [...document.querySelectorAll(arguments[0])].map((n) => arguments[1] ? n.getAttribute(arguments[1]) : n.textContent)"
    texts: list[str] = browser.execute_script(script, css, attribute)
    return texts


def _click(browser: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    def click() -> bool:
        browser.find_element(By.CSS_SELECTOR, css).click()
        return True

    wait(click, what=f"a click on {css}")


def _type_reason(browser: Any, reason: str) -> None:
    from selenium.webdriver.common.by import By

    def typed() -> bool:
        field = browser.find_element(By.ID, "reason")
        field.clear()
        field.send_keys(reason)
        return bool(field.get_attribute("value") == reason)

    wait(typed, what="the reason typed")


def _act(browser: Any, reason: str, button: str) -> None:
    """Type ``reason`` in the page's reason field, then press the button ``button`` (CSS)."""
    _type_reason(browser, reason)
    _click(browser, button)


# The experiment page's results as drawn: each metric's rows (first row: its label, role and
# direction), the funnel's steps (each arm's conversion and what it is over, each treatment's
# lift, interval and verdict), the time to decision and each arm's health, read in one go.
RESULTS_SCRIPT = """const cells = (tr) => Object.fromEntries([...tr.querySelectorAll('td')]
    .map((td) => [td.className.replace(/^num /, '').split(' ')[0], td.textContent]));
  const rows = [...document.querySelectorAll('#results tbody tr')].map((tr) =>
    ({key: tr.dataset.metric, variant: tr.dataset.variant, ...cells(tr)}));
  const ops = [...document.querySelectorAll('#ops tbody tr')].map((tr) =>
    ({variant: tr.dataset.variant, ...cells(tr)}));
  const ttd = document.getElementById('time-to-decision');
  const text = (td, css) => (td.querySelector(css) ? td.querySelector(css).textContent : null);
  const funnel = [...document.querySelectorAll('#funnel-table tbody tr')].map((tr) =>
    ({step: tr.dataset.step, cells: [...tr.querySelectorAll('td[data-variant]')].map((td) =>
      [td.className.replace(/^num /, '').split(' ')[0], td.dataset.variant,
       text(td, '.value') ?? td.textContent, text(td, '.over')])}));
  return {rows, ops, funnel, ttd: ttd ? ttd.textContent : null};"""


def _shown(text: str) -> float | None:
    """A number as the page writes it (grouped, signed with −, in % or pp); ∞ as None."""
    cleaned = text.replace("−", "-").replace("%", "").replace("pp", "").replace(" ", "").strip()
    return None if cleaned.lstrip("+-") == "∞" else float(cleaned)


def _near(text: str, value: float | None, unit: str, relative: bool = False) -> bool:
    """Whether ``text`` shows ``value`` to its printed precision: a share or a relative lift in
    % (or points) with one decimal, currency with two, anything else to three figures."""
    shown = _shown(text)
    if value is None or shown is None:
        return value is None and shown is None
    if relative or unit == "share":
        return abs(shown - value * 100) <= 0.051
    if unit == "currency":
        return abs(shown - value) <= 0.0051
    return abs(shown - value) <= 0.0051 * max(abs(value), 1e-12)


def _results_differ(page: dict[str, Any], evaluation: dict[str, Any]) -> list[str]:
    """Every figure of the API's evaluation that the page does not show as it is."""
    wrong: list[str] = []
    rows = {(r["key"], r["variant"]): r for r in page["rows"]}
    metrics = evaluation.get("metrics") or []
    if not metrics:
        return ["the API's evaluation has no metrics"]
    if len(rows) != sum(len(m["arms"]) for m in metrics):
        wrong.append(f"{len(rows)} rows for {[m['metric'] for m in metrics]}")
    for m in metrics:
        unit = m["unit"]
        lifts = {lift["variant"]: lift for lift in m["lifts"]}
        for i, arm in enumerate(m["arms"]):
            row = rows.get((m["metric"], arm["variant"]))
            where = f"{m['metric']}/{arm['variant']}"
            if row is None:
                wrong.append(f"{where}: no row")
                continue
            if i == 0 and (row["metric"], row["role"]) != (m["label"], m["role"]):
                wrong.append(f"{where}: label/role {row['metric']!r}/{row['role']!r}")
            if i == 0 and ("lower is better" in row["direction"]) != (m["direction"] == "lower"):
                wrong.append(f"{where}: direction {row['direction']!r}")
            if not _near(row["value"], arm["value"], unit):
                wrong.append(f"{where}: value {row['value']!r} for {arm['value']}")
            if _shown(row["n"]) != arm["n"]:
                wrong.append(f"{where}: n {row['n']!r} for {arm['n']}")
            lift = lifts.get(arm["variant"])
            if lift is None:
                if row["lift"] != "–":
                    wrong.append(f"{where}: a lift {row['lift']!r} on the control")
                continue
            relative = lift["scale"] == "relative"
            if lift["lift"] is None:  # not defined yet: no figures
                if (row["lift"], row["interval"]) != ("–", "–"):
                    wrong.append(f"{where}: {row['lift']!r} {row['interval']!r} for no lift")
            else:
                low, high = row["interval"].rstrip(" %p").strip("[]").split(", ")
                for name, text, value in (("lift", row["lift"], lift["lift"]), ("ci_low", low,
                                          lift["ci_low"]), ("ci_high", high, lift["ci_high"])):  # fmt: skip
                    if not _near(text, value, unit, relative):
                        wrong.append(f"{where}: {name} {text!r} for {value}")
            p = lift["p_value"]
            if p is None:
                shown_p = row["p"] == "–"
            else:
                shown_p = row["p"] == "<0.001" if p < 0.001 else abs(float(row["p"]) - p) <= 0.00051
            if not shown_p:
                wrong.append(f"{where}: p {row['p']!r} for {p}")
            if not row["test"].startswith(lift["test"]):
                wrong.append(f"{where}: test {row['test']!r} for {lift['test']}")
            verdict = "harm" if lift.get("harm") else "significant" if lift["significant"] else ""
            if (verdict and verdict not in row["significance"]) or (
                not verdict and row["significance"]
            ):
                wrong.append(f"{where}: {row['significance']!r} for {verdict or 'nothing'}")
    ttd = evaluation.get("time_to_decision")
    if ttd is None or ttd["units_needed"] is None:
        if "not known yet" not in (page["ttd"] or ""):
            wrong.append(f"time to decision {page['ttd']!r} for none")
    elif ttd["units_needed"] > 0:
        text = page["ttd"] or ""
        needed = f"about {round(ttd['units_needed']):,} more users".replace(",", " ")
        days = re.search(r"~(\S+) days at the current rate", text)
        if needed not in text:
            wrong.append(f"time to decision {text!r} for {ttd}")
        if ttd["days_left"] is not None and not (
            days and abs(float(days[1]) - ttd["days_left"]) <= 0.051 * max(ttd["days_left"], 1)
        ):
            wrong.append(f"days left {text!r} for {ttd['days_left']}")
    wrong += _funnel_differs(page["funnel"], evaluation.get("funnel") or [])
    ops = {o["variant"]: o for o in page["ops"]}
    for arm in evaluation.get("ops") or []:
        shown = ops.get(arm["variant"])
        if shown is None or _shown(shown["requests"]) != arm["requests"]:
            wrong.append(f"ops {arm['variant']}: {shown} for {arm}")
        elif not _near(shown["error-rate"], arm["error_rate"], "share"):
            wrong.append(f"ops {arm['variant']}: error rate {shown['error-rate']!r} for {arm}")
    return wrong


def _funnel_differs(page: list[dict[str, Any]], funnel: list[dict[str, Any]]) -> list[str]:
    """Every figure of the API's funnel that the page's Funnel table does not show as it is:
    one row per step, each arm's conversion (a share) over its count, each treatment's lift,
    interval and verdict."""
    if not funnel:
        return ["the API's evaluation has no funnel"]
    rows = {r["step"]: {(kind, variant): (text, over) for kind, variant, text, over in r["cells"]}
            for r in page}  # fmt: skip
    wrong = [] if len(rows) == len(funnel) else [f"funnel rows {list(rows)}"]
    over = {"search → click": "searches", "click → add-to-cart": "clicks",
            "add-to-cart → purchase": "add-to-carts"}  # fmt: skip
    for step in funnel:
        row = rows.get(step["step"])
        if row is None:
            wrong.append(f"funnel {step['step']}: no row")
            continue
        for arm in step["arms"]:
            where = f"funnel {step['step']}/{arm['variant']}"
            text, counted = row.get(("conversion", arm["variant"]), ("", None))
            shown = text == "–" if arm["value"] is None else _near(text, arm["value"], "share")
            if not shown:
                wrong.append(f"{where}: conversion {text!r} for {arm['value']}")
            count = f" of {arm['n']:,} {over[step['step']]}".replace(",", " ")
            if counted != count:
                wrong.append(f"{where}: {counted!r} for {count!r}")
        for lift in step["lifts"]:
            where = f"funnel {step['step']}/{lift['variant']}"
            cell = {k: row.get((k, lift["variant"]), ("", None))[0]
                    for k in ("lift", "interval", "significance")}  # fmt: skip
            if lift["lift"] is None:
                if (cell["lift"], cell["interval"]) != ("–", "–"):
                    wrong.append(f"{where}: {cell} for no lift")
            else:
                low, high = cell["interval"].rstrip(" %p").strip("[]").split(", ")
                relative = lift["scale"] == "relative"
                for name, text, value in (("lift", cell["lift"], lift["lift"]),
                                          ("ci_low", low, lift["ci_low"]),
                                          ("ci_high", high, lift["ci_high"])):  # fmt: skip
                    if not _near(text, value, "share", relative):
                        wrong.append(f"{where}: {name} {text!r} for {value}")
            verdict = "harm" if lift.get("harm") else "significant" if lift["significant"] else ""
            if (verdict and verdict not in cell["significance"]) or (
                not verdict and cell["significance"]
            ):
                wrong.append(f"{where}: {cell['significance']!r} for {verdict or 'nothing'}")
    return wrong


def test_the_dashboard_shows_the_evaluations_and_takes_an_action(
    system: System, browser: Any, tmp_path: Path, models_dir: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # A version whose offline-quality gate fails, gated while the shoppers shop.
    _register(system, models_dir, "worse-v0")
    traffic = ShopperTraffic(system.base_url, seed=5, concurrency=8, max_shoppers=500)
    assert asyncio.run(traffic.run()).errors == 0
    wait(lambda: len(_with_arms(system)) >= 3, timeout=40, what="three evaluations with arms")

    # A viewer: the experiments, then one experiment with its chart; no actions offered.
    sign_in(browser, system.base_url, "vera")
    wait(lambda: browser.find_element(By.CSS_SELECTOR, "#experiments tr[data-key='better']"),
          what="the experiments table")  # fmt: skip
    browser.find_element(By.LINK_TEXT, "better").click()
    # One chart as drawn, read in one go (the page draws itself again every 3 s).
    script = """const svg = document.querySelector('#chart svg.lift-chart');
      if (!svg) return null;
      const all = (css, f) => [...svg.querySelectorAll(css)].map(f);
      return {points: svg.dataset.points,
              circles: all('circle.point', (c) => [c.dataset.arm, c.dataset.ts, c.dataset.estimate]),
              ticks: all('text.time-tick', (t) => t.textContent)};"""
    chart = wait(lambda: browser.execute_script(script), what="the chart")
    drawn_points, circles = int(chart["points"]), chart["circles"]
    history = get(system, "/v1/experiments/better/history")["points"]
    assert len(history) >= drawn_points >= 3  # the history only grows (no thinning yet)
    by_ts = {round(p["ts"], 3): p for p in history}
    assert {arm for arm, _, _ in circles} == {"candidate"}
    # One point per evaluation of the one treatment (from the first with a planned test).
    assert len(circles) == sum(1 for p in history[:drawn_points] if p["arms"]) >= 3
    for _, ts, estimate in circles:
        (arm,) = by_ts[round(float(ts), 3)]["arms"]
        assert float(estimate) == pytest.approx(arm["estimate"], rel=1e-5)
    ticks = chart["ticks"]
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks  # no label twice
    users = _texts(browser, "#arms td.users")
    assert len(users) == 2 and all(int(u) > 0 for u in users)
    assert _texts(browser, "#srm")[0].startswith("SRM p-value")
    # Every metric of every arm, the funnel, the time to decision and each arm's health, as the
    # API has them (the page and the API read at nearly the same moment: once the shoppers are done,
    # the figures hold still from one evaluation to the next).
    differences: list[str] = []

    def results_match() -> bool:
        page = browser.execute_script(RESULTS_SCRIPT)
        evaluation = get(system, "/v1/experiments/better")["last_evaluation"]
        try:
            differences[:] = _results_differ(page, evaluation)
        except (KeyError, ValueError) as exc:  # a cell not drawn as expected
            differences[:] = [f"{type(exc).__name__}: {exc} in {page}"]
        return not differences

    try:
        wait(results_match, timeout=30, what="the results as the API has them")
    except AssertionError:
        raise AssertionError(f"the page's results differ from the API's: {differences}") from None
    assert not browser.find_elements(By.ID, "stop")  # a viewer takes no action
    shots = [tmp_path / "dashboard-experiment.png"]
    if os.environ.get("ABGATE_SCREENSHOT_DIR"):
        shots.append(Path(os.environ["ABGATE_SCREENSHOT_DIR"]) / "dashboard-experiment.png")
    for shot in shots:
        assert browser.save_screenshot(str(shot))

    # An experimenter pauses the experiment through the page: not without a reason (nothing
    # sent), then with one; the page says paused, offers Resume, and resumes with a reason.
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, system.base_url, "ed")
    browser.get(system.base_url + "/dashboard#/experiments/better")
    wait(lambda: browser.find_element(By.ID, "pause"), what="the pause button")
    _click(browser, "#pause")
    wait(lambda: "needs a reason" in browser.find_element(By.ID, "action-result").text,
         what="a reason asked for")  # fmt: skip
    assert get(system, "/v1/experiments/better")["status"] == "running"
    # What is typed survives the page's refresh (every 3 s), and goes with the action.
    _type_reason(browser, "pausing from the dashboard test")
    drawn = browser.find_element(By.ID, "status")
    wait(lambda: _redrawn(drawn), what="the page's refresh")
    assert browser.execute_script("return document.getElementById('reason').value") == (
        "pausing from the dashboard test"
    )
    _click(browser, "#pause")
    wait(lambda: _texts(browser, "#status") == ["paused"], what="paused")
    assert "done" in _texts(browser, "#action-result")[0]
    assert browser.execute_script("return document.getElementById('reason').value") == ""
    assert "Paused since" in _texts(browser, "#paused")[0]
    paused = get(system, "/v1/experiments/better")
    assert paused["status"] == "paused" and paused["paused_at"] is not None
    assert not browser.find_elements(By.ID, "pause")
    _act(browser, "resuming from the dashboard test", "#resume")
    wait(lambda: _texts(browser, "#status") == ["running"], what="running again")
    resumed = get(system, "/v1/experiments/better")
    assert resumed["paused_at"] is None and resumed["paused_s"] > 0
    assert "Paused" in _texts(browser, "#paused")[0]  # the total, kept
    (trail,) = _texts(browser, "#experiment-audit")  # its own subject's entries
    assert "pausing from the dashboard test" in trail and "resuming from" in trail

    # Then stops it, with a reason; the trail names them.
    wait(lambda: browser.find_element(By.ID, "stop"), what="the stop button")
    assert not browser.find_elements(By.ID, "promote")  # promoting moves production: admin
    _act(browser, "stopped from the dashboard test", "#stop")
    wait(lambda: _texts(browser, "#status") == ["concluded"], what="concluded")
    assert get(system, "/v1/experiments/better")["status"] == "concluded"
    mine = {e["reason"]: e for e in _audit(system) if e["actor"] == "ed"}
    for reason in ("pausing", "resuming", "stopped"):
        entry = next(e for r, e in mine.items() if f"{reason} from the dashboard test" in r)
        assert "experiment:better" in entry["subjects"]
    # The arm cell: one label, the version where it differs from the name.
    assert _texts(browser, "#arms td.arm") == ["control · prod-v1", "candidate · cand-v2"]

    # The model versions with their gates and where they are used: production is not offered
    # for retiring, cand-v2 is now that its experiment is over.
    browser.get(system.base_url + "/dashboard#/models")
    row = wait(lambda: _row(browser, "cand-v2"), what="the models table")
    gates = [g.text for g in row.find_elements(By.CSS_SELECTOR, ".gate .badge")]
    assert {"integrity", "offline_quality", "latency"} <= set(gates)
    assert row.find_element(By.CSS_SELECTOR, ".in-use").text == ""
    assert row.find_elements(By.CSS_SELECTOR, "button.retire")  # an experimenter may retire
    assert _row(browser, "prod-v1").find_element(By.CSS_SELECTOR, ".in-use").text == "production"
    assert not _row(browser, "prod-v1").find_elements(By.CSS_SELECTOR, "button.retire")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.override")  # admin only
    _act(browser, "retired from the dashboard test", "#models tr[data-version='cand-v2'] .retire")
    wait(lambda: _row(browser, "cand-v2").find_element(By.CSS_SELECTOR, ".state").text
         == "retired", what="cand-v2 retired")  # fmt: skip
    assert get(system, "/v1/models/cand-v2")["retired"] is True
    browser.get(system.base_url + "/dashboard#/production")
    wait(lambda: browser.find_element(By.ID, "production").text == "prod-v1", what="production")
    assert not browser.find_elements(By.ID, "rollback")  # admin only

    # An admin overrides worse-v0's failed gate from the page: then it reads overridden (by
    # whom and why), offers no override, and no retire while a draft names it.
    wait(lambda: get(system, "/v1/models/worse-v0")["state"] == "failed", timeout=90,
         what="worse-v0's gates failed")  # fmt: skip
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, system.base_url, "carol")
    browser.get(system.base_url + "/dashboard#/models")
    row = wait(lambda: _row(browser, "worse-v0"), what="worse-v0")
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "failed"
    row.find_element(By.CSS_SELECTOR, "button.override").click()
    wait(lambda: "needs a reason" in browser.find_element(By.ID, "action-result").text,
         what="a reason asked for")  # fmt: skip
    assert get(system, "/v1/models/worse-v0")["override"] is None
    _act(
        browser,
        "overridden from the dashboard test",
        "#models tr[data-version='worse-v0'] .override",
    )
    wait(lambda: _row(browser, "worse-v0").find_element(By.CSS_SELECTOR, ".state").text
         == "overridden", what="worse-v0 overridden")  # fmt: skip
    row = _row(browser, "worse-v0")
    assert "by carol: overridden from the dashboard test" in row.text
    assert not row.find_elements(By.CSS_SELECTOR, "button.override")
    assert row.find_elements(By.CSS_SELECTOR, "button.retire")  # nothing uses it yet
    draft = {"key": "worse-again", "namespace_range": [0.0, 0.5], "variants": [
        {"name": "control", "model_version": "prod-v1", "weight": 0.5},
        {"name": "worse", "model_version": "worse-v0", "weight": 0.5}]}  # fmt: skip
    _send(system, "POST", "/v1/experiments", draft)
    browser.refresh()
    row = wait(lambda: _row(browser, "worse-v0"), what="worse-v0")
    assert row.find_element(By.CSS_SELECTOR, ".in-use").text == "experiment:worse-again"
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "overridden"
    assert not row.find_elements(By.CSS_SELECTOR, "button.retire")
    assert not row.find_elements(By.CSS_SELECTOR, "button.override")
    # Production's actions take a reason too: a freeze is not sent without one.
    browser.get(system.base_url + "/dashboard#/production")
    wait(lambda: browser.find_element(By.ID, "rollback-to"), what="the rollback's target")
    _click(browser, "#freeze")
    wait(lambda: "needs a reason" in _texts(browser, "#action-result")[0], what="a reason asked")
    assert get(system, "/v1/production")["frozen"] is False
    # The reasons typed on the page are the audited ones.
    reasons = {e["reason"] for e in _audit(system) if e["actor"] in ("carol", "ed")}
    assert "gates overridden: overridden from the dashboard test" in reasons
    assert "retired from the dashboard test" in reasons

    # The audit page names each entry's subjects and filters by subject (and by actor).
    browser.get(system.base_url + "/dashboard#/audit")
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr"), what="audit")
    subject = browser.find_element(By.ID, "audit-subject")
    subject.send_keys("experiment:better")

    def apply_filter() -> None:
        """Submit the filter and wait until the page it leads to is drawn (its fields are
        new ones: typing into the old page's would be lost)."""
        browser.find_element(By.ID, "audit-apply").click()
        drawn = "return document.querySelector('#view').dataset.page === location.hash"
        wait(lambda: browser.execute_script(drawn), what="the filtered page drawn")

    apply_filter()
    expected = _audit(system, "&subject=experiment:better")
    assert len(expected) >= 4  # created (seeded), paused, resumed, stopped, decisions

    def shown() -> list[Any]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
        return rows if len(rows) == len(expected) else []

    rows = wait(shown, what="only experiment:better's entries")
    for row in rows:
        chips = [c.text for c in row.find_elements(By.CSS_SELECTOR, ".subjects .subject")]
        assert "experiment:better" in chips, row.text
    assert any("pausing from the dashboard test" in r.text for r in rows)
    assert not any("overridden from the dashboard test" in r.text for r in rows)
    actor = browser.find_element(By.ID, "audit-actor")
    actor.send_keys("ed")
    apply_filter()
    expected = _audit(system, "&subject=experiment:better&actor=ed")
    assert len(expected) == 3  # paused, resumed, stopped
    rows = wait(shown, what="ed's entries on experiment:better")
    assert all(r.find_element(By.CSS_SELECTOR, ".actor").text == "ed" for r in rows)
    # And by time: all three are within the last 15 minutes (the API's since, from the page).
    Select(browser.find_element(By.ID, "audit-within")).select_by_value("900")
    apply_filter()
    wait(lambda: "within=900" in browser.current_url, what="the time filter applied")
    rows = wait(shown, what="ed's entries on experiment:better in the last 15 minutes")
    browser.find_element(By.ID, "audit-subject").clear()
    browser.find_element(By.ID, "audit-subject").send_keys(":")
    browser.find_element(By.ID, "audit-apply").click()  # a bad filter: the API's 400, shown
    wait(lambda: "?subject" in browser.find_element(By.ID, "audit-error").text, what="the error")
    # Approvals: with production moves held for a second admin, carol's move waits (her page
    # offers to withdraw it, not to approve it); dave approves it from the page, and it moves.
    _send(system, "PUT", "/v1/approval-policy", {"production": True, "reason": "four eyes"})
    wait(lambda: len(get(system, "/v1/models/worse-v0")["loaded_by"]) == 2,
         what="worse-v0 loaded everywhere")  # fmt: skip
    held = _send(system, "PUT", "/v1/production", {"version": "worse-v0", "reason": "held"})
    approval = held["approval"]["id"]
    pending = f"#approvals-pending tr[data-id='{approval}']"
    browser.get(system.base_url + "/dashboard#/approvals")
    row = wait(lambda: browser.find_element(By.CSS_SELECTOR, pending), what="the request")
    assert "set production to 'worse-v0'" in row.text and "carol" in row.text
    assert not row.find_elements(By.CSS_SELECTOR, "button.approve")
    assert row.find_element(By.CSS_SELECTOR, "button.reject").text == "Withdraw"
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, system.base_url, "dave")
    browser.get(system.base_url + "/dashboard#/approvals")
    _act(browser, "approved from the dashboard test", f"{pending} .approve")
    wait(lambda: get(system, "/v1/production")["production"] == "worse-v0", what="it moved")
    wait(lambda: _texts(browser, f"#approvals-recent tr[data-id='{approval}'] .badge")
         == ["approved"], what="the request approved")  # fmt: skip
    decided = get(system, f"/v1/approvals/{approval}")
    assert (decided["decided_by"], decided["decision_reason"]) == (
        "dave",
        "approved from the dashboard test",
    )
    # A held change made from the page says it waits (and nothing moves).
    browser.get(system.base_url + "/dashboard#/production")
    _act(browser, "rolled back from the dashboard test", "#rollback")
    wait(lambda: "waits for another admin's approval" in _texts(browser, "#action-result")[0],
         what="the rollback held")  # fmt: skip
    assert get(system, "/v1/production")["production"] == "worse-v0"

    # The API reference renders under the same policy; neither page had anything blocked.
    browser.get(system.base_url + "/docs")
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), what="the API reference")
    assert blocked_by_policy(browser) == []
