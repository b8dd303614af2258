"""Keeps a gateway's in-process config snapshot current: pub/sub for speed, a version poll for safety.

The poll is also how a gateway knows whether Redis answers: ``abgate_redis_up`` is 1 after a
poll that reached it, 0 after one that did not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from gateway import metrics
from gateway.config import RoutingConfig
from gateway.control.store import ConfigStore
from gateway.errors import ConfigError
from gateway.tasks import cancel_and_wait

log = logging.getLogger("abgate.control")


class ConfigWatcher:
    def __init__(
        self,
        store: ConfigStore,
        on_update: Callable[[int, RoutingConfig], None],
        current_version: int,
        poll_interval_s: float = 0.25,
    ) -> None:
        self.store = store
        self.on_update = on_update
        self.version = current_version
        self.poll_interval_s = poll_interval_s
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="config-listen"),
            loop.create_task(self._poll(), name="config-poll"),
        ]

    async def close(self) -> None:
        self._closing = True  # the loops end even if a cancellation is lost inside redis-py
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def refresh(self) -> bool:
        """Load the stored config if it is newer than ours; True if the snapshot changed."""
        async with self._lock:
            try:
                stored = await self.store.version()
            except (RedisError, OSError):
                metrics.REDIS_UP.set(0)
                return False
            metrics.REDIS_UP.set(1)
            if stored <= self.version:
                return False
            try:
                version, config = await self.store.load()
            except (RedisError, OSError, LookupError):
                return False
            except ConfigError as exc:
                log.error("stored config rejected, keeping version %d: %s", self.version, exc)
                return False
            if version > self.version:
                self.version = version
                self.on_update(version, config)
                return True
            return False

    async def _poll(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.poll_interval_s)
            await self.refresh()

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self.store.redis.pubsub()
            try:
                await pubsub.subscribe(self.store.keys.channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.refresh()
            except (RedisError, OSError):
                await asyncio.sleep(self.poll_interval_s)
            finally:
                # Bounded: closing a pub/sub connection mid-read can otherwise wait forever.
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call,unused-ignore]
