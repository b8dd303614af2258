"""The gateway's services, one cleanup context and one typed app key each, in start order.

aiohttp enters the contexts of :data:`SERVICES` in order when the app starts and leaves them in
reverse when it stops, so each service opens after what it needs and closes before it. A new
service is one context here (construct, start, ``yield``, close) and, if handlers read it, one
field of :class:`~gateway.http.state.Gateway`. While they start, the process answers on its
port from :mod:`gateway.http.starting`, saying what it waits for (:data:`PROGRESS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from redis.asyncio import Redis

from gateway import metrics
from gateway.access.refusals import RefusalAudit
from gateway.access.tokens import Authenticator, TokenStore
from gateway.config import RoutingConfig
from gateway.control.actors import GATEWAY_STARTUP
from gateway.control.store import ConfigStore
from gateway.control.watcher import ConfigWatcher
from gateway.events.sink import EventSink, SinkPolicy
from gateway.events.spool import Spool
from gateway.http.redis_guard import RedisGuard
from gateway.http.state import GATEWAY, Gateway, Routing
from gateway.inference.batcher import BatchPolicy
from gateway.inference.registry import ModelRegistry
from gateway.inference.session import SessionOptions
from gateway.models.artifacts import ArtifactStore
from gateway.models.follower import ModelFollower
from gateway.models.gate_cache import GateCache
from gateway.models.registrar import Registrar
from gateway.models.seed import seed_source, seed_store
from gateway.models.store import ModelStore
from gateway.ops.meter import OpsMeter
from gateway.ops.shadow_client import ShadowClient
from gateway.redis_client import redis_client
from gateway.router.assign import Router
from gateway.search_ids import SearchIdSigner, load_signer
from gateway.settings import Settings
from gateway.startup import Progress, wait_for_redis

log = logging.getLogger("abgate.gateway")

# How long a starting process waits for the versions it serves to be gated and loaded.
STARTUP_LOAD_WAIT_S = 120.0

SETTINGS = web.AppKey("settings", Settings)
PROGRESS = web.AppKey("progress", Progress)
REDIS = web.AppKey("redis", Redis)
REGISTRY = web.AppKey("registry", ModelRegistry)
CONFIG_STORE = web.AppKey("config_store", ConfigStore)
TOKENS = web.AppKey("tokens", TokenStore)
MODEL_STORE = web.AppKey("model_store", ModelStore)
ARTIFACTS = web.AppKey("artifacts", ArtifactStore)
REGISTRAR = web.AppKey("registrar", Registrar)
ROUTING = web.AppKey("routing", Routing)
SINK = web.AppKey("sink", EventSink)
FOLLOWER = web.AppKey("follower", ModelFollower)
OPS = web.AppKey("ops", OpsMeter)
SHADOW = web.AppKey("shadow", ShadowClient)
REFUSALS = web.AppKey("refusals", RefusalAudit)
SIGNER = web.AppKey("search_ids", SearchIdSigner)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
WATCHER = web.AppKey("watcher", ConfigWatcher)


def session_options(settings: Settings) -> SessionOptions:
    return SessionOptions(settings.intra_op_threads, settings.prefer_cuda)


async def redis(app: web.Application) -> AsyncIterator[None]:
    """The Redis client, once Redis answers (retried with backoff until ABGATE_REDIS_WAIT_S)."""
    settings = app[SETTINGS]
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL must be set for the gateway process (abgate serve sets it)")
    metrics.series_at_start()
    client = redis_client(settings.redis_url)
    metrics.REDIS_UP.set(0)  # until it answers (then the config watcher's polls say)
    try:
        await wait_for_redis(client, settings.redis_url, settings.redis_wait_s, app[PROGRESS], log)
        metrics.REDIS_UP.set(1)
        app[REDIS] = client
        yield
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.aclose(), 2.0)


async def registry(app: web.Application) -> AsyncIterator[None]:
    """The model versions loaded in this process, each with its batcher."""
    app[REGISTRY] = loaded = ModelRegistry()
    try:
        yield
    finally:
        await loaded.close()


async def stores(app: web.Application) -> AsyncIterator[None]:
    """The control plane's stores (config, tokens, model cards, artefacts) and the registrar
    that gates versions: clients of Redis and the models directory, nothing to start."""
    settings, client = app[SETTINGS], app[REDIS]
    app[CONFIG_STORE] = ConfigStore(client, settings.keys)
    app[TOKENS] = TokenStore(client, settings.keys)
    app[MODEL_STORE] = ModelStore(client, settings.keys)
    app[ARTIFACTS] = ArtifactStore(settings.models_dir)
    app[REGISTRAR] = Registrar(
        app[MODEL_STORE],
        app[ARTIFACTS],
        session_options(settings),
        settings.gate_policy,
        settings.eval_file,
        gate_timeout_s=settings.gate_timeout_s,
        gate_cache=None if settings.gate_cache_dir is None else GateCache(settings.gate_cache_dir),
    )
    yield


async def initial_config(
    store: ConfigStore, registrar: Registrar, settings: Settings
) -> tuple[int, RoutingConfig]:
    """The stored config, seeded (with the versions it names) if Redis has none. Everything is
    checked before the first write, so a failed start leaves the store as it was."""
    await seed_store(seed_source(settings), store, registrar, GATEWAY_STARTUP)
    return await store.load()


async def routing(app: web.Application) -> AsyncIterator[None]:
    """The stored routing config (seeded when Redis has none) and its router."""
    app[PROGRESS].set("config", "reading (or seeding) the routing config")
    version, config = await initial_config(app[CONFIG_STORE], app[REGISTRAR], app[SETTINGS])
    app[ROUTING] = Routing(Router(config, version))
    metrics.config_applied(version, config)
    yield


async def sink(app: web.Application) -> AsyncIterator[None]:
    """Exposures and outcomes to the streams, through the spool while Redis is away."""
    settings = app[SETTINGS]
    app[SINK] = events = EventSink(
        app[REDIS], Spool(settings.spool_dir), SinkPolicy(durable=settings.ack_mode == "durable")
    )
    events.start()
    try:
        yield
    finally:
        await events.close()


async def wait_for_routed_versions(
    follower: ModelFollower, config: Callable[[], RoutingConfig], progress: Progress
) -> None:
    """Block start-up until every version the config routes to is loaded here: a new process
    never answers a search with "not loaded yet"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_LOAD_WAIT_S
    while True:
        await follower.sync()
        missing = sorted(config().served_versions() - follower.registry.versions)
        if not missing:
            return
        progress.set(
            "models",
            "loading the model versions it serves: "
            + ", ".join(
                v + (f" (failed: {follower.failed[v]})" if v in follower.failed else "")
                for v in missing
            ),
        )
        if loop.time() > deadline:
            why = []
            for version in missing:
                card = await follower.store.find(version)
                why.append(
                    f"{version}: "
                    + (
                        "not registered"
                        if card is None
                        else follower.failed.get(version)
                        or f"state {card.state}, usable {card.usable}"
                    )
                )
            raise RuntimeError(
                f"model versions the routing config serves could not be loaded in "
                f"{STARTUP_LOAD_WAIT_S:g} s: {'; '.join(why)}"
            )
        await asyncio.sleep(0.2)


async def follower(app: web.Application) -> AsyncIterator[None]:
    """Loads the versions the config serves (every one before the process takes traffic)."""
    settings, current = app[SETTINGS], app[ROUTING]
    app[FOLLOWER] = models = ModelFollower(
        app[MODEL_STORE],
        app[ARTIFACTS],
        app[REGISTRY],
        app[REGISTRAR],
        BatchPolicy(
            settings.max_batch_pairs,
            settings.max_wait_ms / 1000.0,
            settings.batch_queue,
            inline=settings.scores_inline,
        ),
        session_options(settings),
        settings.max_loaded_models,
        lambda: current.router.config,
    )
    try:
        await wait_for_routed_versions(models, lambda: current.router.config, app[PROGRESS])
        models.start()
        yield
    finally:
        await models.close()


async def ops(app: web.Application) -> AsyncIterator[None]:
    """Per-version error and latency figures, flushed to Redis for the evaluations."""
    app[OPS] = meter = OpsMeter(app[REDIS], app[SETTINGS].keys)
    meter.start()
    try:
        yield
    finally:
        await meter.close()


async def shadow(app: web.Application) -> AsyncIterator[None]:
    """The shadow scorer's client (its worker process starts while shadows run)."""
    settings = app[SETTINGS]
    assert settings.redis_url is not None  # the redis service refused to start without
    app[SHADOW] = client = ShadowClient(
        app[REDIS],
        settings.keys,
        settings.redis_url,
        settings.models_dir,
        settings.intra_op_threads,
        settings.shadow_cpu_share,
    )
    client.start(shadowing=bool(app[ROUTING].router.config.shadows))
    try:
        yield
    finally:
        await client.close()


async def refusals(app: web.Application) -> AsyncIterator[None]:
    """Refused admin requests, audited in batches."""
    app[REFUSALS] = audit = RefusalAudit(app[REDIS], app[SETTINGS].keys)
    audit.start()
    try:
        yield
    finally:
        await audit.close()


async def search_ids(app: web.Application) -> AsyncIterator[None]:
    """The deployment's key that signs search ids."""
    app[SIGNER] = await load_signer(app[REDIS], app[SETTINGS].keys)
    yield


async def authenticator(app: web.Application) -> AsyncIterator[None]:
    """Who a token belongs to: the tokens read before the process takes requests (a Redis
    outage later finds them cached), then re-read each second."""
    settings, events = app[SETTINGS], app[SINK]
    app[PROGRESS].set("tokens", "reading the tokens")
    app[AUTHENTICATOR] = check = Authenticator(
        app[TOKENS], settings.admin_token, redis_down=lambda: not events.redis_ok
    )
    await check.load()
    yield


async def gateway(app: web.Application) -> AsyncIterator[None]:
    """What handlers read (``app[GATEWAY]``), from the services above."""
    settings, events, check = app[SETTINGS], app[SINK], app[AUTHENTICATOR]
    app[GATEWAY] = Gateway(
        settings=settings,
        keys=settings.keys,
        redis=app[REDIS],
        registry=app[REGISTRY],
        store=app[CONFIG_STORE],
        sink=events,
        routing=app[ROUTING],
        model_store=app[MODEL_STORE],
        artifacts=app[ARTIFACTS],
        registrar=app[REGISTRAR],
        follower=app[FOLLOWER],
        ops=app[OPS],
        shadow=app[SHADOW],
        tokens=app[TOKENS],
        authenticator=check,
        refusal_audit=app[REFUSALS],
        search_ids=app[SIGNER],
        redis_guard=RedisGuard(known_down=check.redis_down),  # both go by the sink
    )
    yield


async def watcher(app: web.Application) -> AsyncIterator[None]:
    """Applies each new config version: a new router, the models it needs, shadows."""
    gw, current = app[GATEWAY], app[ROUTING]

    def on_update(new_version: int, new_config: RoutingConfig) -> None:
        current.router = Router(new_config, new_version)
        metrics.config_applied(new_version, new_config)
        gw.follower.kick()
        if new_config.shadows:
            gw.shadow.shadowing()
        log.info("config version %d applied", new_version)

    app[WATCHER] = gw.watcher = changes = ConfigWatcher(
        app[CONFIG_STORE], on_update, current.router.version
    )
    changes.start()
    try:
        yield
    finally:
        await changes.close()


async def loop_lag(app: web.Application) -> AsyncIterator[None]:
    """How far behind the event loop runs, for load shedding."""
    lag = app[GATEWAY].lag
    lag.start()
    try:
        yield
    finally:
        lag.close()


SERVICES = (
    redis,
    registry,
    stores,
    routing,
    sink,
    follower,
    ops,
    shadow,
    refusals,
    search_ids,
    authenticator,
    gateway,
    watcher,
    loop_lag,
)
