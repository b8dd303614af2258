"""Shoppers: each visit is one to three searches, and on each results page the clicks,
add-to-carts and purchases the simulator's shopper model makes (sim.clicks, the same
behaviour `make run` uses), with think times between pages."""

from __future__ import annotations

import itertools
import os

import numpy as np
from locust import FastHttpUser, between, task

from sim.clicks import simulate_page
from sim.shoppers import page_events
from sim.world import CATALOG_SEED, make_catalog, retrieve_candidates, sample_intent

CATALOG = make_catalog(seed=CATALOG_SEED)
THINK_S = float(os.environ.get("LOADTEST_THINK_S", "1.0"))
# A storefront token for a deployment that requires one (ABGATE_SERVING_AUTH=token);
# `make run` serves without.
SHOP_TOKEN = os.environ.get("LOADTEST_SHOP_TOKEN", "")
HEADERS = {"Authorization": f"Bearer {SHOP_TOKEN}"} if SHOP_TOKEN else {}
_visits = itertools.count()


class Shopper(FastHttpUser):
    weight = 20
    wait_time = between(THINK_S / 2, THINK_S * 1.5)

    @task
    def visit(self) -> None:
        index = next(_visits)
        rng = np.random.default_rng([os.getpid(), index])
        user_id = f"locust-{os.getpid()}-{index}"
        price_sensitivity = float(rng.uniform(0.2, 0.8))
        for _ in range(int(rng.integers(1, 4))):
            intent = sample_intent(rng)
            body = {
                "user_id": user_id,
                "query": intent.text,
                "candidates": retrieve_candidates(CATALOG, intent, rng).tolist(),
                "k": 10,
            }
            with self.client.post(
                "/v1/search", json=body, headers=HEADERS, catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"search answered {response.status_code}")
                    return
                page = response.json()
            shown = np.asarray([r["item_id"] for r in page["results"]], dtype=np.int64)
            acts = simulate_page(CATALOG, intent, shown, rng, price_sensitivity)
            events = page_events(page["search_id"], user_id, acts)
            if events:
                self.client.post(
                    "/v1/events", json={"events": events}, headers=HEADERS, name="/v1/events"
                )
            self.wait()  # type: ignore[no-untyped-call]  # reads the page before the next search
