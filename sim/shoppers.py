"""Simulated shoppers sending real HTTP searches and events through the gateway.

Each shopper's behaviour comes from a generator seeded by (seed, shopper
index), so a fixed seed gives the same outcomes for the same rankings, however
the requests interleave.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from sim.clicks import Interaction, simulate_page
from sim.world import CATALOG_SEED, Catalog, make_catalog, retrieve_candidates, sample_intent


@dataclass
class TrafficStats:
    shoppers: int = 0
    searches: int = 0
    events: int = 0
    purchases: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)


@dataclass
class ShopperTraffic:
    base_url: str
    seed: int = 1
    concurrency: int = 16
    max_shoppers: int | None = None
    page_size: int = 10
    catalog: Catalog = field(default_factory=lambda: make_catalog(seed=CATALOG_SEED))
    stats: TrafficStats = field(default_factory=TrafficStats)
    # The storefront's credentials (Authorization: Bearer <a storefront token>), if any.
    headers: dict[str, str] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event | None = None) -> TrafficStats:
        """Run shoppers until ``max_shoppers`` have shopped or ``stop`` is set."""
        stop = stop or asyncio.Event()
        counter = itertools.count() if self.max_shoppers is None else iter(range(self.max_shoppers))
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def lane() -> None:
                for index in counter:
                    if stop.is_set():
                        return
                    await self._shop(session, index)

            lanes = [asyncio.create_task(lane()) for _ in range(self.concurrency)]
            try:
                await asyncio.gather(*lanes)
            finally:
                for task in lanes:
                    task.cancel()
                await asyncio.gather(*lanes, return_exceptions=True)
        return self.stats

    async def _post(self, session: aiohttp.ClientSession, path: str, body: Any) -> Any:
        async with session.post(self.base_url + path, json=body, headers=self.headers) as response:
            data = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{path} -> {response.status}: {data}")
            return data

    async def _shop(self, session: aiohttp.ClientSession, index: int) -> None:
        rng = np.random.default_rng([self.seed, index])
        user_id = f"shopper-{self.seed}-{index}"
        price_sensitivity = float(rng.uniform(0.2, 0.8))
        self.stats.shoppers += 1
        for s in range(int(rng.integers(1, 4))):
            intent = sample_intent(rng)
            candidates = retrieve_candidates(self.catalog, intent, rng)
            try:
                page = await self._post(
                    session,
                    "/v1/search",
                    {
                        "user_id": user_id,
                        "query": intent.text,
                        "candidates": candidates.tolist(),
                        "k": self.page_size,
                    },
                )
                self.stats.searches += 1
                shown = np.asarray([r["item_id"] for r in page["results"]], dtype=np.int64)
                acts = simulate_page(self.catalog, intent, shown, rng, price_sensitivity)
                events = page_events(page["search_id"], user_id, acts)
                self.stats.purchases += sum(act.purchased for act in acts)
                if events:
                    await self._post(session, "/v1/events", {"events": events})
                    self.stats.events += len(events)
            except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                self.stats.error(f"shopper {index} search {s}: {exc!r}")


def page_events(search_id: str, user_id: str, acts: Iterable[Interaction]) -> list[dict[str, Any]]:
    """The events one results page's interactions send: a click for each, and an add-to-cart
    and a purchase where the shopper made them (ids derived from the search: replayable)."""
    events: list[dict[str, Any]] = []
    for n, act in enumerate(acts):
        base = {
            "search_id": search_id,
            "user_id": user_id,
            "item_id": act.item,
            "position": act.position,
        }
        eid = f"{search_id}-{n}"
        events.append(base | {"event_id": eid + "c", "type": "click"})
        if act.added_to_cart:
            events.append(base | {"event_id": eid + "a", "type": "add_to_cart"})
        if act.purchased:
            events.append(base | {"event_id": eid + "p", "type": "purchase", "value": act.value})
    return events


def progress_line(
    stats: TrafficStats, elapsed_s: float, extra: Callable[[], str] | None = None
) -> str:
    rate = stats.searches / elapsed_s if elapsed_s > 0 else 0.0
    line = (
        f"[{elapsed_s:5.0f}s] shoppers {stats.shoppers}  searches {stats.searches} ({rate:.0f}/s)  "
        f"events {stats.events}  purchases {stats.purchases}  errors {stats.errors}"
    )
    return line + (f"  {extra()}" if extra else "")
