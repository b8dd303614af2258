"""The promotion attack of issue 20, replayed against the real system (two gateways, the worker,
real Redis, real HTTP): on main, 800 anonymous searches and 414 purchase events got the worst
demo ranker promoted to production 11.2 s later.

Legitimate shoppers come through the storefront's token throughout. Then an attacker tries:
anonymous searches and purchases; purchases on search ids stolen from real shoppers' pages,
under the attacker's own user ids (through the storefront, which relays what browsers send);
clicks and add-to-carts on items that were not on the page; and one bot user who buys without
end. None of it moves the decision; the shoppers' traffic is counted, and what was refused,
dead-lettered and capped is said so.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

import aiohttp

from gateway.settings import Settings
from sim.shoppers import ShopperTraffic
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import get_json, running_system
from tests.tokens import auth

SHOP = auth("shop")
EVALUATIONS = 6  # looks of the worker (one a second) after the attack


async def _post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


def _purchase(n: int, search_id: str, user: str, item: int) -> dict[str, Any]:
    return {
        "event_id": f"forged-{n}",
        "type": "purchase",
        "search_id": search_id,
        "user_id": user,
        "item_id": item,
        "value": 99.0,
    }


async def test_a_forged_promotion_does_not_move_the_decision(settings: Settings) -> None:
    on_guard = replace(settings, routing_file=TEST_CONFIGS / "attack.toml", serving_auth="token")
    with running_system(on_guard, worker=True) as system:
        base = system.base_url
        shoppers = ShopperTraffic(base, seed=11, concurrency=8, max_shoppers=240, headers=SHOP)
        assert (await shoppers.run()).errors == 0, shoppers.stats.error_samples
        refused: Counter[int] = Counter()
        async with aiohttp.ClientSession() as session:
            # 1. Anonymous: 800 searches and 414 purchases, no token.
            for i in range(800):
                body = {"user_id": f"attacker-{i}", "query": "shoes", "candidates": [1, 2, 3]}
                status, _ = await _post(session, base + "/v1/search", body, {})
                refused[status] += 1
            for i in range(414):
                event = _purchase(i, "0" * 32 + "." + "A" * 22, f"attacker-{i}", 1)
                status, _ = await _post(session, base + "/v1/events", event, {})
                refused[status] += 1
            assert refused == {401: 1214}
            # 2. Search ids stolen from shoppers' pages in the candidate arm, under the
            #    attacker's user ids, relayed by the storefront.
            victims = []
            for i in range(200):
                body = {"user_id": f"victim-{i}", "query": "shoes", "candidates": [1, 2, 3]}
                status, page = await _post(session, base + "/v1/search", body, SHOP)
                assert status == 200
                if any(a["variant"] == "candidate" for a in page["assignments"]):
                    victims.append((f"victim-{i}", page))
            assert len(victims) > 50
            stolen: Counter[int] = Counter()
            for n, (_, page) in enumerate(victims):
                item = page["results"][0]["item_id"]
                event = _purchase(n, page["search_id"], f"attacker-{n}", item)
                status, answer = await _post(session, base + "/v1/events", event, SHOP)
                stolen[status] += 1
                assert status != 400 or answer["error"]["where"] == "$.search_id"
            assert stolen == {400: len(victims)}
            # 3. Clicks and add-to-carts on items the page did not show (the right user and
            #    search): acknowledged, then dead-lettered by the worker with the reason.
            off_page = [
                {
                    "event_id": f"off-{n}-{kind}",
                    "type": kind,
                    "search_id": page["search_id"],
                    "user_id": user,
                    "item_id": 987_654,
                }
                for n, (user, page) in enumerate(victims)
                for kind in ("click", "add_to_cart")
            ]
            status, _ = await _post(session, base + "/v1/events", {"events": off_page}, SHOP)
            assert status == 202
            # 4. One bot user who buys 60 times on each of 5 searches.
            bot_searches = []
            for _ in range(5):
                body = {"user_id": "bot-1", "query": "shoes", "candidates": [1, 2, 3]}
                status, page = await _post(session, base + "/v1/search", body, SHOP)
                bot_searches.append(page)
            bot = [
                _purchase(1000 * s + k, page["search_id"], "bot-1", page["results"][0]["item_id"])
                for s, page in enumerate(bot_searches)
                for k in range(60)
            ]
            status, _ = await _post(session, base + "/v1/events", {"events": bot}, SHOP)
            assert status == 202

            # The worker looks several times; nothing the attacker did moves its decision.
            history = base + "/v1/experiments/worse/history"
            looks = len((await get_json(session, history))["points"])
            for _ in range(60):
                await asyncio.sleep(1.0)
                if len((await get_json(session, history))["points"]) >= looks + EVALUATIONS:
                    break
            experiment = await get_json(session, base + "/v1/experiments/worse")
            production = await get_json(session, base + "/v1/production")
            dead = (await get_json(session, base + "/v1/dead-letters?count=1000"))["entries"]
        assert production["production"] == "prod-v1"
        assert experiment["status"] == "running" and experiment["outcome"] == "none"
        stats = experiment["stats"]
        # The shoppers were counted (and only they, and the victims, and the bot) ...
        users = stats["control"]["users"] + stats["candidate"]["users"]
        assert shoppers.stats.shoppers + 1 <= users <= shoppers.stats.shoppers + 200 + 1
        assert stats["control"]["searches"] > 0 and stats["candidate"]["searches"] > 0
        # ... the bot's purchases past 20 a day were counted as capped, not as purchases ...
        bot_arm = next(
            a["variant"] for a in bot_searches[0]["assignments"] if a["experiment"] == "worse"
        )
        assert stats[bot_arm]["capped"] == len(bot) - 20
        # ... and the clicks and add-to-carts off the page are dead letters, with why.
        reasons = Counter(entry["error"] for entry in dead)
        assert reasons == {"the item was not on the page the search showed": len(off_page)}
        assert all(entry["event"]["item_id"] == 987_654 for entry in dead)
        print(
            f"\nattack: {sum(refused.values())} anonymous requests refused (401), "
            f"{len(victims)} purchases on stolen search ids refused (400), {len(off_page)} "
            f"off-page events dead-lettered, {stats[bot_arm]['capped']} of {len(bot)} bot "
            f"purchases capped; {users} users counted; production {production['production']}"
        )
