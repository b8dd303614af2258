"""Typed application state, created in cleanup contexts and read by handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from gateway.access.refusals import RefusalAudit
from gateway.access.tokens import Authenticator, TokenStore
from gateway.config import RoutingConfig
from gateway.control.store import ConfigStore
from gateway.control.watcher import ConfigWatcher
from gateway.errors import ConfigError, Conflict
from gateway.events.sink import EventSink
from gateway.http.loop_lag import LoopLag
from gateway.http.redis_guard import RedisGuard
from gateway.inference.registry import ModelRegistry
from gateway.keys import Keys
from gateway.models.artifacts import ArtifactStore
from gateway.models.follower import ModelFollower
from gateway.models.registrar import Registrar
from gateway.models.store import ModelStore
from gateway.ops.agreement import report, shadow_phase_problem
from gateway.ops.meter import (
    FEATURES_WINDOW_H,
    OpsMeter,
    features_lacking,
    recent_feature_counts,
)
from gateway.ops.shadow_client import ShadowClient
from gateway.router.assign import Router
from gateway.router.query_class import QueryClasses
from gateway.search_ids import SearchIdSigner
from gateway.settings import Settings


@dataclass
class Routing:
    """The router of the config version applied here, swapped whole on each config change
    (gateway.control.watcher); the model follower reads the config it routes by."""

    router: Router


@dataclass(kw_only=True)
class Gateway:
    """Everything a handler needs, put together by gateway.http.services (one cleanup context
    per service); ``router`` is the current one of ``routing``."""

    settings: Settings
    keys: Keys
    redis: Redis
    registry: ModelRegistry
    store: ConfigStore
    sink: EventSink
    routing: Routing
    model_store: ModelStore
    artifacts: ArtifactStore
    registrar: Registrar
    follower: ModelFollower
    ops: OpsMeter
    shadow: ShadowClient
    tokens: TokenStore
    authenticator: Authenticator
    refusal_audit: RefusalAudit
    search_ids: SearchIdSigner
    redis_guard: RedisGuard
    watcher: ConfigWatcher | None = None
    draining: bool = False
    searching: int = 0  # searches in progress (admitted, not yet answered)
    lag: LoopLag = field(default_factory=LoopLag)  # how far behind the event loop runs
    # Deadlines of the body reads in progress: draining moves them all to now.
    body_reads: set[asyncio.Timeout] = field(default_factory=set)
    # how often each query is searched here: its head / torso / tail segment
    query_classes: QueryClasses = field(default_factory=QueryClasses)

    @property
    def router(self) -> Router:
        return self.routing.router

    async def routing_check(self, old: RoutingConfig, new: RoutingConfig) -> None:
        """Refuse a change that names an unknown or retired version (a draft included), or
        routes searches to one that has not passed its gates or is not loaded and warm in
        every live gateway process."""
        for version in sorted(new.referenced_versions() - old.referenced_versions()):
            card = await self.model_store.find(version)
            if card is None:
                raise ConfigError(
                    f"model version {version!r}", "is not registered (POST /v1/models)"
                )
            if card.retired:
                raise Conflict(f"model version {version!r} is retired")
        await self._shadow_phases(old, new)
        await self._production_features(old, new)
        added = sorted(new.served_versions() - old.served_versions())
        if not added:
            return
        for version in added:
            await self.registrar.require_usable(version)
        live = await self.model_store.live_gateways()
        for version in added:
            lacking = [b.process for b in live if version not in b.loaded]
            if lacking or not live:
                self.follower.kick()
                raise Conflict(
                    f"model version {version!r} is not loaded and warm in every gateway process "
                    f"yet: lacking in {lacking or 'every process (no heartbeat)'}; try again shortly"
                )

    async def features_problems(self, versions: Iterable[str]) -> list[str]:
        """For each of ``versions`` that reads named features fewer than 99 % of the last
        24 hours' searches carried, what it lacks (empty: none, or no search to go by)."""
        wanted: dict[str, tuple[str, ...]] = {}
        for version in versions:
            card = await self.model_store.find(version)
            if card is not None and card.declaration.feature_names:
                wanted[version] = card.declaration.feature_names
        if not wanted:
            return []
        counts = await recent_feature_counts(self.redis, self.keys, time.time())
        problems = []
        for version, names in wanted.items():
            lacking = features_lacking(names, counts)
            if lacking:
                listed = ", ".join(str(f) for f in lacking[:5])
                more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
                problems.append(
                    f"version {version!r} reads feature(s) too few of the last "
                    f"{FEATURES_WINDOW_H} h of searches carried: {listed}{more}"
                )
        return problems

    async def _production_features(self, old: RoutingConfig, new: RoutingConfig) -> None:
        """Production must read only features the searches carry: a production that lacks one
        answers those searches 400."""
        if new.production is None or new.production == old.production:
            return
        problems = await self.features_problems([new.production])
        if problems:
            raise Conflict(
                f"production {new.production!r} would refuse searches (400): "
                f"{'; '.join(problems)}. Send the features first"
            )

    async def _shadow_phases(self, old: RoutingConfig, new: RoutingConfig) -> None:
        """An experiment that requires a shadow phase starts only once its treatments passed it."""
        for experiment in new.running:
            requirement = experiment.require_shadow
            if requirement is None or (
                old.has(experiment.key) and old.experiment(experiment.key).live  # a resume
            ):
                continue
            for variant in experiment.variants[1:]:
                raw: Any = await self.redis.hgetall(self.keys.shadow(variant.model_version))
                figures = report({k.decode(): float(v) for k, v in raw.items()})
                problem = shadow_phase_problem(
                    variant.model_version,
                    figures,
                    requirement.min_searches,
                    requirement.min_overlap,
                    requirement.max_overlap,
                    requirement.max_error_rate,
                )
                if problem is not None:
                    not_yet, why = problem
                    message = f"experiment {experiment.key!r} requires a passed shadow phase: {why}"
                    if not_yet:
                        raise Conflict(message)
                    raise ConfigError(f"experiment {experiment.key!r}.require_shadow", message)

    def start_draining(self) -> None:
        self.draining = True
        now = asyncio.get_running_loop().time()
        for deadline in list(self.body_reads):
            deadline.reschedule(now)


GATEWAY = web.AppKey("gateway", Gateway)
