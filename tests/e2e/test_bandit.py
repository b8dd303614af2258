"""A bandit run by the worker on a live system: simulated shoppers over real HTTP, the worker
re-weighting the arms every 2 s through the control plane (audited), the best ranker taking
most of the traffic and being promoted, the worst kept at its floor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from gateway.cli_results import show
from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System, get_json, seeded_system

CHUNK = 1000
FLOOR = 0.05


@pytest.fixture
def bandit(settings: Settings) -> Iterator[System]:
    with seeded_system(settings, "bandit.toml") as s:
        yield s


async def test_the_best_arm_takes_the_traffic_and_is_promoted(bandit: System) -> None:
    base = bandit.base_url
    served = 0
    data: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        while served < 40_000:
            stats = await ShopperTraffic(
                base, seed=5 + served, concurrency=16, max_shoppers=CHUNK
            ).run()
            assert stats.errors == 0, stats.error_samples
            served += CHUNK
            bandit.group.check()
            data = await get_json(session, f"{base}/v1/experiments/bandit")
            evaluation = data["last_evaluation"]
            if evaluation:
                assert "srm" not in evaluation["decision"]["blocked_by"], evaluation["decision"]
            if data["status"] == "concluded":
                break
        assert (data["status"], data["outcome"]) == ("concluded", "promoted"), data
        assert data["last_evaluation"]["decision"]["winner"] == "candidate"
        assert data["last_evaluation"]["state"]["p_best"]["candidate"] >= 0.99
        assert (await get_json(session, f"{base}/v1/production"))["production"] == "cand-v2"
        audit = (await get_json(session, f"{base}/v1/audit?count=1000"))["entries"]
    reweighted = [e for e in audit if e["reason"].startswith("bandit period")]
    assert reweighted and all(e["actor"] == "decision-loop" for e in reweighted)
    periods = data["periods"]
    assert len(periods) >= 2 and all(p["weights"] is not None for p in periods)
    # After the burn-in: the best arm has the largest share and the worst no more than its floor.
    later = [p for p in periods if p["weights"] != periods[0]["weights"]]
    assert later, periods
    last = later[-1]["weights"]
    assert last[1] == max(last) and last[2] <= FLOOR + 0.01, last
    # Once both others are ruled out (prod-v1 loses clearly too), each keeps only its floor and
    # the best arm takes the rest: its users outnumber theirs accordingly. (How many periods
    # come before that depends on how fast the shoppers arrive, so only those after count.)
    ruled_out = [p for p in later if max(p["weights"][0], p["weights"][2]) <= FLOOR + 0.01]
    assert ruled_out, later
    units = {v: sum(p["units"][v] for p in ruled_out) for v in ("control", "candidate", "worse")}
    assert units["candidate"] > 5 * max(units["control"], units["worse"]), units
    # Where the worst arm's weight is down to its floor, it gets no more users than that weight
    # gives, up to sampling: its units are a sum of binomials, bounded at mean + 4 sd. (Which
    # periods come after the burn-in with the worst arm not yet ruled out depends on how fast
    # the shoppers arrive: those are left out, not the bound widened.)
    floored = [p for p in later if p["weights"][2] <= FLOOR + 0.01]
    assert floored, later
    sizes = [sum(p["units"].values()) for p in floored]
    mean = sum(n * p["weights"][2] for n, p in zip(sizes, floored, strict=True))
    sd = (
        sum(
            n * p["weights"][2] * (1 - p["weights"][2]) for n, p in zip(sizes, floored, strict=True)
        )
        ** 0.5
    )
    worst = sum(p["units"]["worse"] for p in floored)
    assert worst <= mean + 4 * sd + 1, (worst, mean, sd, floored)
    # SRM per period against its own weights: every period's split matches its weights.
    assert data["last_evaluation"]["srm_p_value"] > 0.001
    # abgate experiments show: what a bandit has (its period, P(best)), no A/B test's figures.
    shown = show(data)
    assert shown.startswith("bandit  bandit, concluded (promoted), period "), shown
    assert "P(best): " in shown and "time to decision" not in shown, shown
    await asyncio.sleep(0)
