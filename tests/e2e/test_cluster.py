"""The whole loop on a real three-master Redis Cluster: two gateway processes and the worker,
users split into twelve shards spread over the masters; simulated shoppers over real HTTP. The
decisions are those of one Redis (better promoted, worse rolled back: each on half of the
namespace; the A/A test beside them is tests/e2e/test_decision_loop.py's, on one Redis), every
search's exposure is in its user's shard, and each experiment's statistics are the sum of
sums kept on several masters."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from gateway.redis_client import redis_client
from gateway.redis_cluster import LocalCluster
from gateway.settings import Settings
from gateway.variant_stats import read_variant_stats
from sim.shoppers import ShopperTraffic
from tests.conftest import TEST_CONFIGS
from tests.e2e.conftest import get_json, running_system
from tests.tokens import seed_tokens

CHUNK = 1500
MAX_SHOPPERS = 30_000
SHARDS = 12


# Bounded by the shoppers it may send (MAX_SHOPPERS); with other modules' systems beside it
# (make test runs three at once) that can take longer than the suite's default timeout.
@pytest.mark.timeout(900)
async def test_the_decision_loop_on_a_redis_cluster(
    settings: Settings, redis_cluster: LocalCluster
) -> None:
    on_cluster = replace(
        settings,
        redis_url=redis_cluster.url,
        shards=SHARDS,
        routing_file=TEST_CONFIGS / "better_worse.toml",
    )
    seed_tokens(redis_cluster.url, settings.prefix)
    with running_system(on_cluster, worker=True) as system:
        searches = served = 0
        async with aiohttp.ClientSession() as session:
            while served < MAX_SHOPPERS:
                traffic = ShopperTraffic(
                    system.base_url, seed=20261124 + served, concurrency=16, max_shoppers=CHUNK
                )
                stats = await traffic.run()
                assert stats.errors == 0, stats.error_samples
                served, searches = served + CHUNK, searches + stats.searches
                await asyncio.sleep(1.5)
                system.group.check()
                listed = await get_json(session, system.base_url + "/v1/experiments")
                experiments = {e["key"]: e for e in listed["experiments"]}
                if all(experiments[k]["status"] == "concluded" for k in ("better", "worse")):
                    break
        better, worse = experiments["better"], experiments["worse"]
        assert (better["status"], better["outcome"]) == ("concluded", "promoted"), better
        assert (worse["status"], worse["outcome"]) == ("concluded", "rolled_back"), worse

        redis = redis_client(redis_cluster.url)
        try:
            keys = on_cluster.keys
            # Every acknowledged search is in its user's shard's stream (none trimmed yet).
            lengths = [await redis.xlen(s.exposures) for s in keys.all_shards]
            assert sum(lengths) == searches and sum(n > 0 for n in lengths) == SHARDS
            # Each experiment's sums live on every master; the evaluator adds them up.
            for key in ("better", "worse"):
                holders = [s for s in keys.all_shards if await redis.exists(s.stats(key))]
                nodes = {redis.get_node_from_key(s.tag).port for s in holders}
                assert len(nodes) == 3, (key, nodes)
                merged = await read_variant_stats(redis, keys, key)
                per_shard = [
                    int(await redis.hget(s.stats(key), "control:users") or 0) for s in holders
                ]
                assert merged["control"]["users"] == sum(per_shard) > max(per_shard)
        finally:
            await redis.aclose()
