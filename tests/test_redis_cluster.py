"""The local Redis Cluster the cluster tests run on, and the client abgate uses with it."""

from __future__ import annotations

from gateway.keys import Keys
from gateway.redis_client import is_cluster_url, redis_client
from gateway.redis_cluster import SLOTS, LocalCluster


async def test_three_masters_own_every_slot_and_shards_spread_over_them(
    redis_cluster: LocalCluster, prefix: str
) -> None:
    assert is_cluster_url(redis_cluster.url) and not is_cluster_url("redis://127.0.0.1:6379/0")
    redis = redis_client(redis_cluster.url)
    try:
        slots = await redis.cluster_slots()
        owned = sorted((int(lo), int(hi)) for (lo, hi) in slots)
        assert owned[0][0] == 0 and owned[-1][1] == SLOTS - 1 and len(owned) == 3
        keys = Keys(prefix, 12)
        for shard in keys.all_shards:
            await redis.set(shard.seen("probe"), 1)
        nodes = {redis.get_node_from_key(s.tag).port for s in keys.all_shards}
        assert len(nodes) == 3  # twelve shards land on every master
    finally:
        await redis.aclose()
