"""The Redis client every abgate process uses: one Redis, or a Redis Cluster.

``redis://host:port/db`` (or ``rediss://``, ``unix://``) is one server. ``redis+cluster://host:port``
(``rediss+cluster://`` with TLS) is a Redis Cluster reached through any of its nodes; the
client discovers the others and routes each command by its key's hash slot. Every key
abgate writes carries a hash tag (:mod:`gateway.keys`), so each script and transaction
stays on one slot. The two clients share the command API; the cluster client is typed as
:class:`Redis` for the code that only issues commands.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.errors import ConfigError
from gateway.redis_urls import CLUSTER_SCHEMES, redacted


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def redis_client(url: str) -> Redis:
    """A client of ``url`` (nothing is connected yet); a URL the client cannot read is a
    ConfigError naming REDIS_URL."""
    try:
        return _client(url)
    except ValueError as exc:
        raise ConfigError("REDIS_URL", f"{redacted(url)}: {exc}") from None


def _client(url: str) -> Redis:
    # Short timeouts: a dead Redis must show up as an error fast, never as a stalled flush.
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        cluster = RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}",
            socket_timeout=2.0,
            socket_connect_timeout=1.0,
            health_check_interval=5,
        )
        return cast(Redis, cluster)
    return Redis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=1.0, health_check_interval=5
    )
