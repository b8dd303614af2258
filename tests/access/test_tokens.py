"""The token cache against a real Redis: refreshed at most once per TTL, kept through an
outage, and the environment's admin token always known."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gateway.access.roles import Principal, Role
from gateway.access.tokens import ENV_ADMIN, Authenticator, TokenRecord, TokenStore, check_name
from gateway.errors import Conflict, NotFound, RequestError
from gateway.keys import Keys
from gateway.redis_server import EmbeddedRedis


async def test_cache_refresh_outage_and_env_admin(redis_server: EmbeddedRedis, prefix: str) -> None:
    redis = Redis.from_url(redis_server.url)
    store = TokenStore(redis, Keys(prefix))
    now = [0.0]
    down = [False]
    auth = Authenticator(
        store, "env-secret", ttl_s=1.0, clock=lambda: now[0], redis_down=lambda: down[0]
    )
    assert await auth.identify("env-secret") == Principal(ENV_ADMIN, Role.ADMIN)
    token, _ = await store.create("zoe", Role.VIEWER, "test")
    assert await auth.identify(token) is None  # read a moment ago, before zoe existed
    now[0] += 0.1
    # A token no cached entry matches makes it read again (created through another process),
    # at most once per MISS_REREAD_S: wrong tokens cannot drive the reads.
    assert await auth.identify(token) == Principal("zoe", Role.VIEWER)
    reads = [0]
    read = store.all

    async def counted() -> list[TokenRecord]:
        reads[0] += 1
        return await read()

    store.all = counted  # type: ignore[method-assign]
    for _ in range(5):
        assert await auth.identify("wrong") is None
    assert reads[0] == 0
    now[0] += 0.1
    assert await auth.identify("wrong") is None and reads[0] == 1
    store.all = read  # type: ignore[method-assign]
    now[0] += 1.0
    await store.revoke("zoe", "test")
    down[0] = True
    now[0] += 1.0
    # Redis "down": the cached tokens stay in force rather than lock everyone out.
    assert await auth.identify(token) == Principal("zoe", Role.VIEWER)
    assert await auth.identify("env-secret") == Principal(ENV_ADMIN, Role.ADMIN)
    down[0] = False
    now[0] += 5.0
    assert await auth.identify(token) is None
    assert await auth.identify("") is None and await auth.identify("zoe") is None
    await redis.aclose()


@pytest.mark.parametrize(
    "name",
    ["", "a b", "x" * 65, "-lead", "decision-loop", "ADMIN", "decision_loop", "adm1n",
     "Anonym0us", "gateway.startup", "W0rker-Startup"],
)  # fmt: skip
def test_names_that_cannot_be_token_owners(name: str) -> None:
    with pytest.raises(RequestError):
        check_name(name)


def test_role_order() -> None:
    assert Role.VIEWER < Role.EXPERIMENTER < Role.ADMIN
    assert Principal("a", Role.ADMIN).may(Role.VIEWER)
    assert not Principal("v", Role.VIEWER).may(Role.EXPERIMENTER)


async def test_a_name_means_one_holder_for_ever(redis_server: EmbeddedRedis, prefix: str) -> None:
    """Revoked, a name is never given again (least of all with a higher role), and a name that
    only looks like another's is refused."""
    redis = Redis.from_url(redis_server.url)
    store = TokenStore(redis, Keys(prefix))
    auth = Authenticator(store, None, ttl_s=0.0)
    token, _ = await store.create("zoe", Role.VIEWER, "alice")
    revoked = await store.revoke("zoe", "alice")
    assert revoked.revoked_by == "alice" and revoked.view()["revoked_at"] > 0
    assert await auth.identify(token) is None
    for name in ("zoe", "Zoe", "z0e"):
        with pytest.raises(Conflict, match="never reused"):
            await store.create(name, Role.ADMIN, "mallory")
    with pytest.raises(NotFound):
        await store.revoke("zoe", "alice")  # revoked once
    await store.create("alice", Role.EXPERIMENTER, "admin")
    with pytest.raises(Conflict, match="'a1ice' looks like 'alice'"):
        await store.create("a1ice", Role.ADMIN, "admin")
    assert [(r.name, r.active) for r in sorted(await store.all(), key=lambda r: r.name)] == [
        ("alice", True),
        ("zoe", False),
    ]
    await redis.aclose()
