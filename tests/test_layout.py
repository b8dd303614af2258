"""Every process of a deployment must split users into the same number of shards."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError
from gateway.keys import Keys
from gateway.layout import check_layout
from gateway.redis_client import redis_client
from gateway.redis_server import EmbeddedRedis


async def test_the_first_process_records_the_count_and_another_is_refused(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    redis = redis_client(redis_server.url)
    try:
        await check_layout(redis, Keys(prefix, 4))
        await check_layout(redis, Keys(prefix, 4))  # the same count: fine
        with pytest.raises(ConfigError, match="split into 4 shards, got 2") as err:
            await check_layout(redis, Keys(prefix, 2))
        assert err.value.where == "ABGATE_SHARDS"
        assert int(await redis.get(Keys(prefix).layout) or 0) == 4  # unchanged
    finally:
        await redis.aclose()
