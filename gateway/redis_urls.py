"""What REDIS_URL may name, checked without importing the Redis client (the settings read it
in every process, the CLI's too)."""

from __future__ import annotations

from typing import Final

from gateway.errors import ConfigError

CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


# What REDIS_URL may name: one Redis (TCP, TLS or a unix socket) or a cluster.
SCHEMES: Final = ("redis", "rediss", "unix", *CLUSTER_SCHEMES)


def check_url(url: str, where: str = "REDIS_URL") -> str:
    """``url`` if it names a Redis the clients can reach; else a ConfigError naming ``where``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES or not rest:
        raise ConfigError(
            where,
            f"expected redis://HOST:PORT[/DB] (or {', '.join(s + '://' for s in SCHEMES[1:])}), "
            f"got {url!r}",
        )
    return url


def redacted(url: str) -> str:
    """``url`` without its password, for logs and readiness answers."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user + ':' if user else ''}***@{host}"
