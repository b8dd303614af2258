"""Typed application state, created in cleanup contexts and read by handlers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis

from gateway.config import RoutingConfig
from gateway.control.store import ConfigStore
from gateway.control.watcher import ConfigWatcher
from gateway.errors import Conflict
from gateway.events.sink import EventSink
from gateway.http.redis_guard import RedisGuard
from gateway.inference.registry import ModelRegistry
from gateway.keys import Keys
from gateway.router.assign import Router
from gateway.settings import Settings
from gateway.throttled_log import ThrottledLog


@dataclass
class Counters:
    searches: int = 0
    search_errors: int = 0  # a search answered 503 because its model failed
    events: int = 0
    bad_requests: int = 0  # answered 4xx
    unauthorized: int = 0  # admin requests refused for their credentials
    shed: int = 0  # answered 503 because a bounded queue was full
    unavailable: int = 0  # answered 503 because Redis was down or the process was draining
    internal_errors: int = 0  # answered 500: a defect, logged with its traceback


@dataclass
class Gateway:
    """Everything a handler needs; ``router`` is swapped whole on each config change."""

    settings: Settings
    keys: Keys
    redis: Redis
    registry: ModelRegistry
    store: ConfigStore
    sink: EventSink
    router: Router
    watcher: ConfigWatcher | None = None
    counters: Counters = field(default_factory=Counters)
    draining: bool = False
    # Deadlines of the body reads in progress: draining moves them all to now.
    body_reads: set[asyncio.Timeout] = field(default_factory=set)
    redis_guard: RedisGuard = field(default_factory=RedisGuard)
    refusals: ThrottledLog = field(
        default_factory=lambda: ThrottledLog(logging.getLogger("abgate.auth"))
    )

    async def routing_check(self, old: RoutingConfig, new: RoutingConfig) -> None:
        """Refuse a change that would route searches to a version this process cannot serve."""
        missing = sorted(new.routed_versions() - old.routed_versions() - self.registry.versions)
        if missing:
            raise Conflict(
                f"model version(s) {missing} are not loaded; loaded: {sorted(self.registry.versions)}"
            )

    def start_draining(self) -> None:
        self.draining = True
        now = asyncio.get_running_loop().time()
        for deadline in list(self.body_reads):
            deadline.reschedule(now)


GATEWAY = web.AppKey("gateway", Gateway)
