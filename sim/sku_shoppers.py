"""Shoppers of :mod:`sim.sku_shop` over real HTTP: searches that carry every feature the
storefront sends, named (every other shopper sends them as columns beside plain SKUs), clicks
and add-to-carts with the search id, and, once every shopper of a run has searched, purchases at
checkout without one. Each shopper's choices come from a generator seeded by (seed, index).

What was sent is kept per arm (``experiment/variant`` from the search's assignments, '' for a
shopper outside every experiment), for a test to compare with what abgate counted."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import numpy as np

from sim.sku_shop import Shop, browse, search, search_body

# A carted item is bought at checkout with this probability.
BUY_GIVEN_CART: Final = 0.4
LANES: Final = 12

Cart = list[tuple[str, float]]  # (SKU, price)


@dataclass
class SkuStorefront:
    base_url: str
    shop: Shop
    seed: int
    searches: int = 0
    errors: list[str] = field(default_factory=list)
    arms: Counter[str] = field(default_factory=Counter)  # searches per arm
    buyers: dict[str, set[str]] = field(default_factory=dict)  # users who bought at checkout
    purchases: Counter[str] = field(default_factory=Counter)  # items bought at checkout
    revenue_cents: Counter[str] = field(default_factory=Counter)

    async def run(self, first: int, shoppers: int) -> None:
        """Shoppers ``first`` .. ``first + shoppers - 1`` search, then check out."""
        await self.checkout(await self.search(first, shoppers), first)

    async def search(self, first: int, shoppers: int) -> dict[str, tuple[str, Cart]]:
        """The shoppers' searches, clicks and add-to-carts: each one's arm and cart."""
        carts: dict[str, tuple[str, Cart]] = {}
        queue = iter(range(first, first + shoppers))
        async with aiohttp.ClientSession() as session:

            async def lane() -> None:
                for i in queue:
                    user = f"shopper-{self.seed}-{i}"
                    carts[user] = await self._shop(session, user, i)

            await asyncio.gather(*(lane() for _ in range(LANES)))
        return carts

    async def checkout(self, carts: dict[str, tuple[str, Cart]], draw: int) -> None:
        """Purchases without a search id: each carted item bought with BUY_GIVEN_CART."""
        rng = np.random.default_rng([self.seed, draw])
        async with aiohttp.ClientSession() as session:
            for user, (arm, cart) in carts.items():
                await self._checkout(session, user, arm, cart, rng)

    async def _post(self, session: aiohttp.ClientSession, path: str, body: Any) -> Any:
        async with session.post(self.base_url + path, json=body) as response:
            data = await response.json()
            if response.status >= 300:
                self.errors.append(f"{path} {response.status}: {data}")
                return None
            return data

    async def _shop(self, session: aiohttp.ClientSession, user: str, i: int) -> tuple[str, Cart]:
        rng = np.random.default_rng([self.seed, i])
        arm, cart = "", []
        for _ in range(int(rng.integers(1, 4))):
            s = search(self.shop, rng)
            body = search_body(self.shop, s, user, columnar=i % 2 == 1)
            page = await self._post(session, "/v1/search", body)
            if page is None:
                continue
            self.searches += 1
            arm = ",".join(f"{a['experiment']}/{a['variant']}" for a in page["assignments"])
            self.arms[arm] += 1
            events = []
            for visit in browse(self.shop, s, [r["item_id"] for r in page["results"]], rng):
                base = {
                    "search_id": page["search_id"],
                    "user_id": user,
                    "item_id": visit.sku,
                    "position": visit.position,
                }
                eid = f"{page['search_id']}-{visit.position}"
                events.append(base | {"event_id": eid + "c", "type": "click"})
                if visit.carted:
                    events.append(base | {"event_id": eid + "a", "type": "add_to_cart"})
                    cart.append((visit.sku, visit.price))
            if events:
                await self._post(session, "/v1/events", {"events": events})
        return arm, cart

    async def _checkout(
        self,
        session: aiohttp.ClientSession,
        user: str,
        arm: str,
        cart: Cart,
        rng: np.random.Generator,
    ) -> None:
        bought = [(sku, price) for sku, price in cart if rng.random() < BUY_GIVEN_CART]
        if not bought:
            return
        events = [
            {
                "event_id": f"{user}-checkout-{n}",
                "type": "purchase",
                "user_id": user,
                "item_id": sku,
                "value": price,
            }  # no search_id: it counts for the user's arm within the attribution window
            for n, (sku, price) in enumerate(bought)
        ]
        if await self._post(session, "/v1/events", {"events": events}) is not None:
            self.buyers.setdefault(arm, set()).add(user)
            self.purchases[arm] += len(bought)
            self.revenue_cents[arm] += sum(round(price * 100) for _, price in bought)
