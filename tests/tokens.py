"""Per-person test tokens, seeded into each test's Redis prefix by the ``settings`` fixture.

The six people of the older tests are admins (they made every kind of change with the one
admin token); ``vera`` is a viewer and ``ed`` an experimenter, for the role tests."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis
from redis.cluster import RedisCluster

from gateway.access.roles import Role
from gateway.access.tokens import TokenRecord, hash_token
from gateway.keys import Keys
from gateway.redis_client import is_cluster_url

PEOPLE: dict[str, Role] = {
    "alice": Role.ADMIN,
    "bob": Role.ADMIN,
    "carol": Role.ADMIN,
    "dave": Role.ADMIN,
    "erin": Role.ADMIN,
    "frank": Role.ADMIN,
    "vera": Role.VIEWER,
    "ed": Role.EXPERIMENTER,
    "shop": Role.STOREFRONT,  # the storefront: searches and events
}


def token_of(name: str) -> str:
    return f"{name}-token"


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(name)}"}


def seed_tokens(redis_url: str, prefix: str) -> None:
    client: Any = (
        RedisCluster.from_url(redis_url.replace("+cluster", "", 1))
        if is_cluster_url(redis_url)
        else redis.Redis.from_url(redis_url)
    )
    try:
        client.hset(
            Keys(prefix).tokens,
            mapping={
                name: TokenRecord(
                    name, role, hash_token(token_of(name)), time.time(), "tests"
                ).to_json()
                for name, role in PEOPLE.items()
            },
        )
    finally:
        client.close()


async def audited_changes(redis: Any, keys: Keys) -> list[dict[str, Any]]:
    """The audit trail without its refusal entries: what a refused request must not grow."""
    entries = await redis.xrange(keys.audit)
    decoded = [orjson.loads(fields[b"e"]) for _, fields in entries]
    return [e for e in decoded if "refused" not in e]
