"""Keeps a gateway process's loaded versions in step with the registry, never on the search path.

Which versions a process loads: every usable version that production, a running or a draft
experiment names, then the most recently registered other usable versions, up to
``max_loaded``; anything else is unloaded, so memory does not grow with the number of
versions registered. A version is loaded and warmed up in a thread and only then served
and reported ready in this process's heartbeat, which the admin API reads before it routes
traffic to a version. A version left "gating" by a process that stopped or died is taken over
here, by one process at a time and a bounded number of times (:mod:`gateway.models.gate_claims`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Final

from redis.exceptions import RedisError

from gateway import metrics
from gateway.config import RoutingConfig
from gateway.errors import ConfigError
from gateway.inference.batcher import BatchPolicy
from gateway.inference.registry import LoadedModel, ModelRegistry
from gateway.inference.session import SessionOptions
from gateway.models.artifacts import ArtifactStore
from gateway.models.card import ModelCard
from gateway.models.registrar import Registrar
from gateway.models.store import HEARTBEAT_TTL_S, Heartbeat, ModelStore
from gateway.tasks import cancel_and_wait
from gateway.throttled_log import ThrottledLog

log = logging.getLogger("abgate.models")

# A card still "gating" this long after registration may have lost its gating process: the
# gate claim in Redis says whether it has (the registering process claims it at once).
GATE_TAKEOVER_S: Final = 60.0
# How often one process asks whether such a version's claim is free.
TAKEOVER_RECHECK_S: Final = 5.0


def process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def wanted_versions(cards: list[ModelCard], config: RoutingConfig, max_loaded: int) -> list[str]:
    """Pure: the versions to keep loaded, most needed first."""
    usable = {c.version: c for c in cards if c.usable}
    must = [v for v in sorted(config.referenced_versions()) if v in usable]
    rest = sorted(
        (c for v, c in usable.items() if v not in must), key=lambda c: c.registered_at, reverse=True
    )
    return must + [c.version for c in rest[: max(0, max_loaded - len(must))]]


class ModelFollower:
    def __init__(
        self,
        store: ModelStore,
        artifacts: ArtifactStore,
        registry: ModelRegistry,
        registrar: Registrar,
        policy: BatchPolicy,
        options: SessionOptions,
        max_loaded: int,
        config: Callable[[], RoutingConfig],
        interval_s: float = 1.0,
        gate_takeover_s: float = GATE_TAKEOVER_S,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.registry = registry
        self.registrar = registrar
        self.policy = policy
        self.options = options
        self.max_loaded = max_loaded
        self.config = config
        self.interval_s = interval_s
        self.gate_takeover_s = gate_takeover_s
        self.process = process_id()
        self.loading: set[str] = set()
        self.failed: dict[str, str] = {}  # version -> why it could not be loaded here
        # A missing model file or a Redis outage is retried several times a second: a line
        # every 30 s says so, with the count held back.
        self._load_failures = ThrottledLog(log, 30.0, logging.ERROR)
        self._unavailable = ThrottledLog(log, 30.0)
        self._was_unavailable = False
        self._kick = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._gating: dict[str, asyncio.Task[None]] = {}
        self._next_takeover: dict[str, float] = {}  # version -> loop time of the next try
        self._closing = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._loop(), name="models-follow"),
            loop.create_task(self._listen(), name="models-listen"),
        ]

    def kick(self) -> None:
        """Something changed (a card or the routing config): sync soon."""
        self._kick.set()

    def gate_in_background(self, version: str, actor: str) -> None:
        if version in self._gating:
            return
        production = self.config().production
        task = asyncio.get_running_loop().create_task(
            self._gate(version, production, actor), name=f"gate-{version}"
        )
        self._gating[version] = task

    async def _gate(self, version: str, production: str | None, actor: str) -> None:
        try:
            await self.registrar.gate(version, production, actor)
        except Exception:  # Redis failed: another run may take it over (a bounded number)
            log.exception("gating model %s failed", version)
        finally:
            self._gating.pop(version, None)
            self.kick()

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait([*self._tasks, *self._gating.values()])
        self._tasks = []
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.store.leave(self.process), 1.0)

    async def sync(self) -> None:
        """Load what is wanted and not loaded, unload the rest, then report."""
        async with self._lock:
            cards = await self.store.all()
            self._take_over(cards)
            by_version = {c.version: c for c in cards}
            wanted = wanted_versions(cards, self.config(), self.max_loaded)
            for version in sorted(self.registry.versions - set(wanted)):
                await self.registry.remove(version)
                log.info("unloaded model %s", version)
            for version in wanted:
                if version in self.registry.versions:
                    continue
                card = by_version[version]
                self.loading.add(version)
                await self.beat()
                try:
                    model = await asyncio.to_thread(self._load, card)
                except (ConfigError, OSError) as exc:
                    self.failed[version] = str(exc)
                    self._load_failures.warning("cannot load model %s: %s", version, exc)
                    continue
                finally:
                    self.loading.discard(version)
                self.failed.pop(version, None)
                self.registry.add(model)
                log.info("loaded model %s (%s)", version, model.provider)
            metrics.MODELS_LOADED.set(len(self.registry.versions))
            await self.beat()

    def _take_over(self, cards: list[ModelCard]) -> None:
        """Gate the versions left "gating" long enough that their process may be gone; the
        registrar gates only those whose claim is free and whose runs are not used up."""
        now, tick = time.time(), asyncio.get_running_loop().time()
        gating = {c.version for c in cards if c.state == "gating"}
        self._next_takeover = {v: t for v, t in self._next_takeover.items() if v in gating}
        for card in cards:
            if (
                card.state == "gating"
                and now - card.registered_at > self.gate_takeover_s
                and tick >= self._next_takeover.get(card.version, 0.0)
            ):
                self._next_takeover[card.version] = tick + TAKEOVER_RECHECK_S
                self.gate_in_background(card.version, "gate-takeover")

    def _load(self, card: ModelCard) -> LoadedModel:
        model = LoadedModel(
            card.declaration,
            self.artifacts.path(card.sha256),
            self.policy,
            self.options,
            card.sha256,
        )
        model.warm_up()
        return model

    async def beat(self) -> None:
        await self.store.beat(
            Heartbeat(
                self.process,
                time.time(),
                tuple(sorted(self.registry.versions)),
                tuple(sorted(self.loading)),
            )
        )

    async def _loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), min(self.interval_s, HEARTBEAT_TTL_S / 3))
            self._kick.clear()
            try:
                await self.sync()
            except (RedisError, OSError) as exc:
                self._unavailable.warning(
                    "model registry unavailable (%s); keeping what is loaded", exc
                )
                self._was_unavailable = True
            else:
                if self._was_unavailable:
                    log.info("model registry readable again")
                    self._was_unavailable = False

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self.store.redis.pubsub()
            try:
                await pubsub.subscribe(self.store.keys.models_channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.kick()
            except (RedisError, OSError):
                await asyncio.sleep(self.interval_s)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
