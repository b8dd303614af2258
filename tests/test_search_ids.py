"""Search ids signed for their user: made and checked without Redis, one key per deployment."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.keys import Keys
from gateway.redis_server import EmbeddedRedis
from gateway.search_ids import SearchIdSigner, load_signer


def test_a_search_id_holds_for_its_user_only() -> None:
    signer = SearchIdSigner(b"k" * 32)
    sid = signer.issue("u-42")
    rid, dot, tag = sid.partition(".")
    assert dot and len(rid) == 32 and len(tag) == 22 and ":" not in sid
    assert signer.check(sid, "u-42")
    assert not signer.check(sid, "u-43")
    assert not signer.check(sid, "u-42 ")
    assert not signer.check(rid + "." + ("A" if tag[0] != "A" else "B") + tag[1:], "u-42")
    assert not SearchIdSigner(b"x" * 32).check(sid, "u-42")  # another deployment's
    for made_up in ("", "s1", rid, sid + "x", "." + tag, rid + "." + tag[:-1]):
        assert not signer.check(made_up, "u-42")
    assert signer.issue("u-42") != sid  # fresh randomness each time


async def test_one_key_per_deployment(redis_server: EmbeddedRedis, prefix: str) -> None:
    redis = Redis.from_url(redis_server.url)
    first = await load_signer(redis, Keys(prefix))
    second = await load_signer(redis, Keys(prefix))  # another process of the deployment
    assert first == second and len(first.key) == 32
    assert await load_signer(redis, Keys(prefix + "x")) != first
    assert second.check(first.issue("u"), "u")
    await redis.aclose()
