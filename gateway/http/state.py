"""Typed application state, created in cleanup contexts and read by handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis

from gateway.control.store import ConfigStore, Keys
from gateway.control.watcher import ConfigWatcher
from gateway.events.sink import EventSink
from gateway.inference.registry import ModelRegistry
from gateway.router.assign import Router
from gateway.settings import Settings


@dataclass
class Counters:
    searches: int = 0
    search_errors: int = 0
    events: int = 0
    bad_requests: int = 0
    shed: int = 0


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


GATEWAY = web.AppKey("gateway", Gateway)
