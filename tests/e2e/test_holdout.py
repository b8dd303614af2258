"""A holdout on a live system (two gateways, the worker, real Redis, ONNX and HTTP): a fifth of
the users kept on last year's ranker (the query-blind worse-v0) while production moves twice,
once by hand and once by an experiment's promotion; shoppers whose clicks follow the ranking
they are shown; the worker's report gives the cumulative lift of both moves over the baseline,
with both moves listed, and nothing it reports changes the config. The dashboard's Production
page shows the holdout and its report as the API has them (a real headless browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.conftest import TEST_CONFIGS
from tests.e2e.browser import browser, get, sign_in, wait
from tests.e2e.conftest import System, running_system
from tests.e2e.test_dashboard import _near
from tests.e2e.test_lifecycle import Api

__all__ = ["browser"]  # the fixture, used by name

SHOPPERS = 1500
MAX_ROUNDS = 4


@pytest.fixture
def fresh(settings: Settings) -> Iterator[System]:
    settings = replace(settings, routing_file=TEST_CONFIGS / "production_only.toml")
    with running_system(settings, worker=True) as system:
        yield system


async def _tags(api: Api, users: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Each user's assignments (experiment or holdout, arm) on one search."""
    out = {}
    for user in users:
        page = await api.call(
            "POST", "/v1/search", json={"user_id": user, "query": "tent", "candidates": [1, 2, 3]}
        )
        out[user] = [(a["experiment"], a["variant"]) for a in page["assignments"]]
    return out


# The Production page's holdout panel as drawn, read in one go.
HOLDOUT_SCRIPT = """const q = (css) => document.querySelector(css);
  if (!q('#holdout-metrics')) return null;
  const cells = (tr) => Object.fromEntries([...tr.querySelectorAll('td')]
    .map((td) => [td.className.replace(/^num /, '').split(' ')[0], td.textContent]));
  return {version: q('#holdout .version').textContent, share: q('#holdout .share').textContent,
    since: q('#holdout .since').textContent, summary: q('#holdout-summary').textContent,
    users: q('#holdout-users').textContent,
    metrics: [...document.querySelectorAll('#holdout-metrics tbody tr')].map((tr) =>
      ({key: tr.dataset.metric, ...cells(tr)})),
    moves: [...document.querySelectorAll('#holdout-promotions tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent))};"""


def _holdout_page_differs(page: dict[str, Any], view: dict[str, Any]) -> list[str]:
    """Every figure of ``GET /v1/holdout`` that the page's holdout panel does not show as it is:
    the baseline, share and since when; the one-line summary and users; per metric both arms'
    values and counts, the rest's lift with its interval and verdict; the production moves."""
    holdout, report = view["holdout"], view["report"]
    wrong = []
    if (page["version"], page["share"]) != (holdout["version"], f"{holdout['share'] * 100:g} %"):
        wrong.append(f"baseline {page['version']!r} {page['share']!r} for {holdout}")
    if page["since"] in ("", "–") or page["summary"] != report["summary"]:
        wrong.append(f"since {page['since']!r}, summary {page['summary']!r}")
    users = {arm: f"{n:,}".replace(",", " ") for arm, n in report["users"].items()}
    if f"holdout {users['holdout']}, rest {users['rest']}" not in page["users"]:
        wrong.append(f"users {page['users']!r} for {report['users']}")
    rows = {row["key"]: row for row in page["metrics"]}
    if set(rows) != {m["metric"] for m in report["metrics"]}:
        wrong.append(f"metrics {sorted(rows)}")
    for m in report["metrics"]:
        row = rows.get(m["metric"])
        if row is None:
            continue
        for arm in m["arms"]:
            value, _, n = row[arm["variant"]].partition(" (n ")
            shown = value == "–" if arm["value"] is None else _near(value, arm["value"], m["unit"])
            if not shown or n.rstrip(")").replace(" ", "") != str(arm["n"]):
                wrong.append(f"{m['metric']}/{arm['variant']}: {row[arm['variant']]!r} for {arm}")
        lift = m["lift"]
        relative = lift["scale"] == "relative"
        if lift["lift"] is None:
            if (row["lift"], row["interval"]) != ("–", "–"):
                wrong.append(f"{m['metric']}: {row['lift']!r} {row['interval']!r} for no lift")
        else:
            low, high = row["interval"].rstrip(" %p").strip("[]").split(", ")
            for name, text, value in (("lift", row["lift"], lift["lift"]),
                                      ("ci_low", low, lift["ci_low"]),
                                      ("ci_high", high, lift["ci_high"])):  # fmt: skip
                if not _near(text, value, m["unit"], relative):
                    wrong.append(f"{m['metric']}: {name} {text!r} for {value}")
        if ("significant" in row["significance"]) != lift["significant"]:
            wrong.append(f"{m['metric']}: {row['significance']!r} for {lift}")
    moves = [(row[1], row[2], row[4]) for row in page["moves"]]
    expected = [
        (p["from"] or "–", p["to"] or "–", p["experiment"] or "") for p in report["promotions"]
    ]
    if moves != expected:
        wrong.append(f"moves {moves} for {expected}")
    return wrong


async def test_a_holdout_reports_the_cumulative_lift_of_two_promotions(
    fresh: System, browser: Any
) -> None:
    models_dir = fresh.settings.seed_models_dir
    async with aiohttp.ClientSession() as session:
        api = Api(session, fresh.base_url)
        assert (await api.register(models_dir, "cand-v2"))["state"] == "passed"
        assert (await api.register(models_dir, "worse-v0"))["state"] == "failed"
        await api.call("POST", "/v1/models/worse-v0/override", json={"reason": "last year's"})
        await api.until("/v1/models/worse-v0", lambda c: len(c["loaded_by"]) == 2)
        # A year ago: the query-blind ranker was production, and the holdout began on it.
        await api.call(
            "PUT", "/v1/production", json={"version": "worse-v0", "reason": "a year ago"}
        )
        begun = await api.call(
            "PUT",
            "/v1/holdout",
            json={"version": "worse-v0", "share": 0.2, "reason": "measure a year of rankers"},
        )
        stats_id = begun["holdout"]["stats_id"]
        users = [f"probe-{i}" for i in range(150)]
        before = await _tags(api, users)
        held = {u for u, tags in before.items() if tags == [(stats_id, "holdout")]}
        assert held and all(
            tags == [(stats_id, "rest")] for u, tags in before.items() if u not in held
        )

        # Two production moves: one by hand, one by an experiment's promotion.
        await api.call("PUT", "/v1/production", json={"version": "prod-v1", "reason": "better"})
        experiment = {
            "key": "ranker-v2",
            "min_runtime_s": 0,
            "variants": [
                {"name": "control", "model_version": "prod-v1", "weight": 0.5},
                {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
            ],
        }
        await api.call("POST", "/v1/experiments", 201, json=experiment)
        await api.call("POST", "/v1/experiments/ranker-v2/start")
        during = await _tags(api, users)
        for user, tags in during.items():
            if user in held:  # in no experiment: the baseline for every search
                assert tags == [(stats_id, "holdout")], (user, tags)
            else:
                assert tags[-1] == (stats_id, "rest") and tags[0][0] == "ranker-v2", (user, tags)
        await api.call(
            "POST", "/v1/experiments/ranker-v2/promote", json={"reason": "wins on clicks"}
        )
        assert (await api.call("GET", "/v1/production"))["production"] == "cand-v2"
        after = await _tags(api, users)
        assert {u for u, tags in after.items() if tags == [(stats_id, "holdout")]} == held

        # Shoppers, until the holdout's report shows the rest ahead on clicks (bounded).
        report: dict[str, Any] = {}
        for round_ in range(MAX_ROUNDS):
            traffic = ShopperTraffic(
                fresh.base_url, seed=31 + round_, concurrency=16, max_shoppers=SHOPPERS
            )
            stats = await traffic.run()
            assert stats.errors == 0, stats.error_samples
            fresh.group.check()
            needed = (round_ + 1) * SHOPPERS

            def counted(v: Any, needed: int = needed) -> bool:
                return v["report"] is not None and sum(v["report"]["users"].values()) >= needed

            view = await api.until("/v1/holdout", counted)
            report = view["report"]
            lifts = {m["metric"]: m["lift"] for m in report["metrics"]}
            if lifts["clicked_search_rate"]["significant"]:
                break
            await asyncio.sleep(0.5)

        assert report["stats_id"] == stats_id and report["version"] == "worse-v0"
        assert report["current"] == "cand-v2"
        users_by_arm = report["users"]
        total = sum(users_by_arm.values())
        assert 0.1 * total < users_by_arm["holdout"] < 0.3 * total, users_by_arm
        moves = [(p["from"], p["to"], p["experiment"]) for p in report["promotions"]]
        assert moves == [("worse-v0", "prod-v1", None), ("prod-v1", "cand-v2", "ranker-v2")]
        assert report["summary"].startswith("cumulative lift of 2 promotions since ")
        clicks = {m["metric"]: m for m in report["metrics"]}["clicked_search_rate"]
        arms = {a["variant"]: a for a in clicks["arms"]}
        assert arms["rest"]["value"] > arms["holdout"]["value"]
        lift = clicks["lift"]
        assert lift["lift"] > 0 and lift["ci_low"] < lift["lift"] < lift["ci_high"]
        assert lift["significant"] and lift["ci_low"] > 0, lift

        # The report informs: the holdout still runs, production is where the people put it.
        view = await api.call("GET", "/v1/holdout")
        assert view["holdout"]["active"] is True
        audit = await api.call("GET", "/v1/audit?subject=holdout&count=10")
        assert [e["actor"] for e in audit["entries"]] == ["carol"]

    # The dashboard's Production page: the holdout and its report as the API has them (read
    # again until they agree: the worker writes the report anew each pass).
    sign_in(browser, fresh.base_url, "vera")
    browser.get(fresh.base_url + "/dashboard#/production")
    differences: list[str] = []

    def shown() -> bool:
        browser.refresh()
        page = wait(lambda: browser.execute_script(HOLDOUT_SCRIPT), what="the holdout panel")
        differences[:] = _holdout_page_differs(page, get(fresh, "/v1/holdout"))
        return not differences

    try:
        wait(shown, timeout=30, what="the holdout as the API has it")
    except AssertionError:
        raise AssertionError(f"the page's holdout differs from the API's: {differences}") from None
