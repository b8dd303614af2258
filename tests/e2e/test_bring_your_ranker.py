"""Bring your ranker, on a live system (two gateway processes, the worker, real Redis, real
HTTP; issue 21): a search team's LightGBM LambdaMART and XGBoost rankers, trained here on
generated query–item features keyed by string SKUs (:mod:`sim.sku_shop`) and exported with
onnxmltools (:mod:`sim.bring_your_ranker`, the recipe of docs/bring-your-ranker.md), go from an
empty store to a promoted version.

Production reads four named features, the XGBoost candidate five, the LightGBM one eight; every
search carries all of them (on each candidate or as columns). Each version is gated with the
default policy on the dataset its card names. An A/B test of the three, whose purchases are all
sent at checkout without a search id, promotes the LightGBM ranker. On the side, a version that
reads a feature the storefront does not send fails its gates on that dataset, passes once
re-gated on one that carries it, is refused at start (409 naming the feature) and, started
anyway, its arm's searches are served by production and counted until it is rolled back."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.settings import Settings
from sim.bring_your_ranker import (
    card,
    lightgbm_to_onnx,
    train_lightgbm,
    train_xgboost,
    xgboost_to_onnx,
)
from sim.sku_shop import FEATURES, SENT, Shop, dataset_jsonl, make_shop, training_set
from sim.sku_shoppers import SkuStorefront
from tests.e2e.conftest import Api as LiveApi
from tests.e2e.conftest import System, running_system
from tests.http.test_models import form

pytestmark = pytest.mark.e2e

PROD = ("bm25", "brand_match", "price_rank", "freshness")
XGB = ("bm25", "rating", "price_rank", "freshness", "in_stock")
LGBM = SENT  # every feature the storefront sends
MARGIN = ("bm25", "ctr_7d", "in_stock", "margin_30d")  # the storefront does not send margin_30d
EXPERIMENT = "gbdt-rankers"
ARMS = ("production", "lightgbm", "xgboost")
FIRST_CHUNK = 240  # shoppers: too few users per arm for any decision (min_units_per_arm 300)
CHUNK = 600
MAX_SHOPPERS = 9_000


@dataclass(frozen=True)
class Version:
    card: dict[str, Any]
    onnx: bytes


@pytest.fixture(scope="module")
def versions() -> dict[str, Version]:
    """Trained on 400 queries of the shop: production (LightGBM, 4 features), the candidates
    (XGBoost, 5; LightGBM, 8) and one that reads margin_30d."""
    x, grades, qid = training_set(make_shop(), queries=400, seed=1)

    def columns(names: tuple[str, ...]) -> Any:
        return x[:, [FEATURES.index(n) for n in names]]

    def lgbm(version: str, names: tuple[str, ...], trees: int, about: str) -> Version:
        model = train_lightgbm(columns(names), grades, qid, trees)
        onnx = lightgbm_to_onnx(model, len(names))
        return Version(card(version, names, "shop-eval-v1", about), onnx)

    xgb = train_xgboost(columns(XGB), grades, qid, trees=100)
    xgb_card = card("xgb-5f", XGB, "shop-eval-v1", "XGBoost rank:ndcg: adds ratings and stock")
    return {
        "prod-gbdt-4f": lgbm("prod-gbdt-4f", PROD, 40, "LightGBM: text match and brand"),
        "xgb-5f": Version(xgb_card, xgboost_to_onnx(xgb, len(XGB))),
        "lgbm-8f": lgbm("lgbm-8f", LGBM, 100, "LightGBM LambdaMART: adds semantics and CTR"),
        "lgbm-margin": lgbm("lgbm-margin", MARGIN, 30, "reads the shop's margin"),
    }


class Api(LiveApi):
    async def dataset(self, dataset_id: str, jsonl: bytes) -> Any:
        data = aiohttp.FormData()
        meta = json.dumps({"id": dataset_id, "reason": "held-out queries, graded"}).encode()
        data.add_field("meta", io.BytesIO(meta), content_type="application/json")
        data.add_field("file", jsonl, filename=f"{dataset_id}.jsonl")
        return await self.call("POST", "/v1/datasets", 201, data=data)

    async def gated(self, version: Version) -> Any:
        """Register ``version``; its card once gated (and, if passed, loaded everywhere)."""
        name = version.card["version"]
        await self.call("POST", "/v1/models", 202, data=form(version.card, version.onnx))
        return await self.until(f"/v1/models/{name}", settled)

    async def experiment(self, key: str, **fields: Any) -> None:
        await self.call("POST", "/v1/experiments", 201, json={"key": key, **fields})


def settled(card: dict[str, Any]) -> bool:
    return card["state"] == "failed" or (card["state"] == "passed" and len(card["loaded_by"]) == 2)


def gate(card: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in card["gates"]["results"] if r["gate"] == name)


async def test_lightgbm_and_xgboost_from_training_to_promotion(
    settings: Settings, tmp_path: Path, versions: dict[str, Version]
) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text('namespace_id = "ranking"\n')  # an empty store: no production yet
    shop = make_shop()
    with running_system(replace(settings, routing_file=routing), worker=True) as system:
        async with aiohttp.ClientSession() as session:
            api = Api(session, system.base_url)
            await production_and_candidates(api, shop, versions)
            await missing_feature_regated(api, shop)
            await missing_feature_started(api, system, shop)
            storefront = await ab_test(api, system, shop)
            await missing_feature_counted(api, system, storefront)


async def production_and_candidates(api: Api, shop: Shop, versions: dict[str, Version]) -> None:
    """Production registered on an empty store (nothing to compare with) and set; the
    candidates gated against it with the default policy on the dataset their cards name."""
    assert (await api.call("GET", "/v1/production"))["production"] is None
    search = {"user_id": "u-1", "query": "tent", "candidates": ["SKU-00001"]}
    refused = await api.call("POST", "/v1/search", 503, json=search)
    assert refused["error"]["type"] == "no_production", refused
    await api.dataset("shop-eval-v1", dataset_jsonl(shop, queries=120, seed=2))
    assert (await api.gated(versions["prod-gbdt-4f"]))["state"] == "passed"
    await api.call("PUT", "/v1/production", json={"version": "prod-gbdt-4f", "reason": "ours"})

    policy = await api.call("GET", "/v1/gate-policy")
    assert policy["stored"] is False  # the defaults
    for name in ("lgbm-8f", "xgb-5f"):
        candidate = await api.gated(versions[name])
        assert candidate["state"] == "passed", candidate["gates"]
        assert candidate["gates"]["policy"] == policy["policy"]
        assert candidate["gates"]["dataset"]["source"] == "shop-eval-v1"
        quality = gate(candidate, "offline_quality")["figures"]
        assert quality["compared"] and quality["ndcg_at_10"] > quality["production_ndcg_at_10"]
    margin = await api.gated(versions["lgbm-margin"])
    assert margin["state"] == "failed"
    assert gate(margin, "sanity")["figures"]["missing_features"] == ["margin_30d"]


async def missing_feature_regated(api: Api, shop: Shop) -> None:
    """A dataset that carries margin_30d, and the version that failed re-gated on it."""
    await api.dataset("shop-eval-v2", dataset_jsonl(shop, queries=120, seed=3, names=FEATURES))
    again = {"dataset": "shop-eval-v2", "reason": "the new dataset has margins"}
    await api.call("POST", "/v1/models/lgbm-margin/regate", 202, json=again)
    margin = await api.until("/v1/models/lgbm-margin", settled)
    assert margin["state"] == "passed", margin["gates"]
    assert margin["gates"]["dataset"]["source"] == "shop-eval-v2"
    assert margin["gates_history"][-1]["passed"] is False


async def missing_feature_started(api: Api, system: System, shop: Shop) -> None:
    """Refused at start while searches lack margin_30d (409 naming it); started anyway."""
    warmup = SkuStorefront(system.base_url, shop, seed=1)
    await warmup.run(0, 70)  # ~140 searches: the check goes by 100 or more
    assert warmup.errors == [] and set(warmup.arms) == {""}, warmup.errors
    await asyncio.sleep(1.5)  # each gateway notes the features searches carried once a second
    variants = [
        {"name": "production", "model_version": "prod-gbdt-4f"},
        {"name": "margin", "model_version": "lgbm-margin"},
    ]
    await api.experiment(
        "margin", namespace_range=[0.9, 1.0], variants=variants, min_ops_requests=20
    )
    refused = await api.call("POST", "/v1/experiments/margin/start", 409)
    message = refused["error"]["message"]
    assert "version 'lgbm-margin' reads feature(s) too few of the last 24 h" in message
    assert "'margin_30d' (carried by 0% of" in message
    anyway = {"ignore_missing_features": True, "reason": "margins ship next sprint"}
    await api.call("POST", "/v1/experiments/margin/start", json=anyway)


async def ab_test(api: Api, system: System, shop: Shop) -> SkuStorefront:
    """Production and both candidates on the same searches; purchases only at checkout."""
    await api.experiment(
        EXPERIMENT,
        namespace_range=[0.0, 0.9],
        variants=[
            {"name": "production", "model_version": "prod-gbdt-4f"},
            {"name": "lightgbm", "model_version": "lgbm-8f"},
            {"name": "xgboost", "model_version": "xgb-5f"},
        ],  # equal weights, left out
        min_runtime_s=10,  # the default waits a week
        min_units_per_arm=300,
        attribution_window_s=600,
    )
    started = await api.call("POST", f"/v1/experiments/{EXPERIMENT}/start")
    assert [v["weight"] for v in started["experiment"]["variants"]] == pytest.approx([1 / 3] * 3)

    store = SkuStorefront(system.base_url, shop, seed=2)
    carts = await store.search(0, FIRST_CHUNK)

    def exposed(data: Any) -> bool:
        """Every search of the experiment's arms counted."""
        return all(
            data["stats"].get(a, {}).get("searches") == store.arms[f"{EXPERIMENT}/{a}"]
            for a in ARMS
        )

    # Checkout once the worker has counted the searches: a purchase at checkout that it reads
    # before its buyer's exposure counts for no arm.
    await api.until(f"/v1/experiments/{EXPERIMENT}", exposed, limit_s=30)
    await store.checkout(carts, 0)

    def counted(data: Any) -> bool:
        """Every purchase at checkout counted for its buyer's arm, exactly."""
        stats, sent = data["stats"], {a: f"{EXPERIMENT}/{a}" for a in ARMS}
        return all(
            stats.get(a, {}).get("converters") == len(store.buyers.get(sent[a], ()))
            and stats.get(a, {}).get("revenue_cents") == store.revenue_cents[sent[a]]
            for a in ARMS
        )

    early = await api.until(f"/v1/experiments/{EXPERIMENT}", counted, limit_s=30)
    assert early["status"] == "running"
    first = {a: store.purchases[f"{EXPERIMENT}/{a}"] for a in ARMS}
    assert all(first.values()), first

    shoppers = FIRST_CHUNK
    while True:
        await store.run(shoppers, CHUNK)
        shoppers += CHUNK
        system.group.check()
        data = await api.call("GET", f"/v1/experiments/{EXPERIMENT}")
        if data["status"] == "concluded" or shoppers >= MAX_SHOPPERS:
            break
        await asyncio.sleep(1.0)
    assert store.errors == [], store.errors[:5]  # every search and event answered 2xx
    assert all(store.arms[f"{EXPERIMENT}/{a}"] > 0 for a in ARMS), store.arms
    evaluation = data["last_evaluation"]
    assert (data["outcome"], evaluation["decision"]["winner"]) == ("promoted", "lightgbm"), data
    production = await api.call("GET", "/v1/production")
    assert production["production"] == "lgbm-8f"
    last = production["history"][0]
    assert (last["experiment"], last["actor"]) == (EXPERIMENT, "decision-loop")
    print(
        f"\n{shoppers} shoppers, {store.searches} searches {dict(store.arms)}; purchases at "
        f"checkout {dict(store.purchases)}, of the first {FIRST_CHUNK} shoppers {first} (counted "
        f"exactly); units {evaluation['units']}; conversion {evaluation['means']}; "
        f"{evaluation['decision']['reasons']}"
    )
    return store


async def missing_feature_counted(api: Api, system: System, store: SkuStorefront) -> None:
    """Every search of the margin arm was served by production and counted against the
    version, which the operational guardrail then rolled back."""
    ended = await api.until("/v1/experiments/margin", lambda e: e["status"] == "concluded")
    assert ended["outcome"] == "rolled_back", ended
    async with api.session.get(system.base_url + "/metrics") as response:
        metrics = await response.text()
    missing = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("abgate_missing_features_total{")
        and 'model_version="lgbm-margin"' in line
    )
    print(f"margin arm: {missing:g} searches served by production")
    assert missing == store.arms["margin/margin"] > 0
