"""Interleaved experiments on a live system: simulated shoppers over real HTTP, two gateway
processes merging every covered user's pages by team draft, the worker crediting clicks and
deciding with the sign test. prod-v1 against cand-v2 promotes cand-v2; prod-v1 against itself
(A/I) never decides for either and stops as inconclusive (its rankers agree on every slot); a
multileaving of three orders them by quality and sends its winner on to an A/B test. Beside
them, an A/B test on a click metric (DCG@10 per search) is evaluated from the same events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.cli_results import show
from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.browser import browser, sign_in, wait
from tests.e2e.conftest import System, get_json, seeded_system

__all__ = ["browser"]  # the fixture, used by name

CHUNK = 600
MAX_SHOPPERS = 15_000


@pytest.fixture
def interleaving(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "interleaving.toml") as s:
        yield s


async def test_interleaving_decides_and_an_a_i_test_does_not(
    interleaving: System, browser: Any
) -> None:
    base = interleaving.base_url
    served = 0
    views: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        while served < MAX_SHOPPERS:
            stats = await ShopperTraffic(
                base, seed=77 + served, concurrency=16, max_shoppers=CHUNK
            ).run()
            assert stats.errors == 0, stats.error_samples
            served += CHUNK
            interleaving.group.check()
            views = {
                k: await get_json(session, f"{base}/v1/experiments/{k}") for k in ("il", "ai", "ml")
            }
            for key in ("ai",):  # the A/I test must never be decided for either version
                assert views[key]["outcome"] in ("none", "inconclusive"), views[key]
            if all(v["status"] == "concluded" for v in views.values()):
                break
        clicks = await get_json(session, f"{base}/v1/experiments/clicks")
        production = await get_json(session, f"{base}/v1/production")
        ab = await get_json(session, f"{base}/v1/experiments/ml-ab")
        audit = (await get_json(session, f"{base}/v1/audit?count=200"))["entries"]
    il, ai, ml = views["il"], views["ai"], views["ml"]
    # prod-v1 against cand-v2: cand-v2 preferred, promoted to production.
    assert (il["status"], il["outcome"]) == ("concluded", "promoted"), il["last_evaluation"]
    evaluation = il["last_evaluation"]
    (pair,) = evaluation["interleaving"]["pairs"]
    assert pair["negative"] > pair["positive"] and pair["significant"], pair
    assert evaluation["interleaving"]["competitive_share"] > 0.5
    assert production["history"][0]["experiment"] == "il"
    # A/I: every slot agreed, so it stopped as inconclusive, never significant.
    assert (ai["status"], ai["outcome"]) == ("concluded", "inconclusive"), ai["last_evaluation"]
    report = ai["last_evaluation"]["interleaving"]
    assert report["competitive_share"] == 0.0 and not report["pairs"][0]["significant"]
    assert "rank alike" in ai["last_evaluation"]["decision"]["reasons"][0]
    # Multileaving: the versions ordered by quality, the winner on to an A/B test.
    assert ml["last_evaluation"]["interleaving"]["order"] == ["candidate", "production", "worse"]
    assert (ml["status"], ml["outcome"]) == ("concluded", "promoted_to_ab")
    shown = show(ml)  # abgate experiments show: the pairs and the order, no A/B figures
    assert "most preferred first: candidate > production > worse" in shown, shown
    assert "interleaved searches" in shown and "time to decision" not in shown, shown
    assert ab["status"] == "running" and ab["kind"] == "ab"
    assert [v["model_version"] for v in ab["variants"]] == ["prod-v1", "cand-v2"]
    # An A/B test on a click metric beside them: DCG@10 per search from the events' positions.
    evaluation = clicks["last_evaluation"]
    assert evaluation["metric"] == "dcg_at_10"
    assert all(evaluation["means"][arm] > 0 for arm in ("control", "candidate")), evaluation
    for arm in ("control", "candidate"):
        row = clicks["stats"][arm]
        assert 0 < row["clicked_searches"] <= row["searches"] and row["rr"] > 0, row
    decided = {e["reason"].split(";")[0] for e in audit if e["actor"] == "decision-loop"}
    assert any(r.startswith("users prefer candidate over production") for r in decided), decided

    # The dashboard shows the multileaving's pairs and order, as the API reports them.
    from selenium.webdriver.common.by import By

    sign_in(browser, base, "vera")
    browser.get(f"{base}/dashboard#/experiments/ml")
    order = wait(lambda: browser.find_element(By.ID, "order").text, what="the order")
    assert "candidate > production > worse" in order
    rows = browser.find_elements(By.CSS_SELECTOR, "#pairs tr[data-pair]")
    pairs = ml["last_evaluation"]["interleaving"]["pairs"]
    assert [r.get_attribute("data-pair") for r in rows] == [f"{p['a']}/{p['b']}" for p in pairs]
    for row, pair in zip(rows, pairs, strict=True):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1:3] == [str(pair["positive"]), str(pair["negative"])]
        assert cells[5] == ("significant" if pair["significant"] else "")
    assert "competitive" in browser.find_element(By.ID, "competitive").text
