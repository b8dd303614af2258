"""The aiohttp application: resources opened and closed in cleanup contexts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway import metrics
from gateway.access.refusals import RefusalAudit
from gateway.access.tokens import Authenticator, TokenStore
from gateway.config import RoutingConfig
from gateway.control.actors import GATEWAY_STARTUP
from gateway.control.store import ConfigStore
from gateway.control.watcher import ConfigWatcher
from gateway.errors import ConfigError
from gateway.events.sink import EventSink, SinkPolicy
from gateway.events.spool import Spool
from gateway.http import admin, openapi
from gateway.http.answer_check import ANSWER_TYPES, answer_decoders, answer_middleware
from gateway.http.auth import ROLES, SERVING_OPEN, auth_middleware
from gateway.http.connections import LIMITS, ConnectionLimits, connection_cap
from gateway.http.errors import error_middleware
from gateway.http.redis_guard import RedisGuard
from gateway.http.routes import ROUTES, add_routes
from gateway.http.security_headers import add_security_headers
from gateway.http.server import HANDLER_ARGS
from gateway.http.state import GATEWAY, Gateway
from gateway.http.static import STATIC
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
from gateway.search_ids import load_signer
from gateway.settings import DEMO_ADMIN_TOKEN, Settings

log = logging.getLogger("abgate.gateway")

# How long a starting process waits for the versions it serves to be gated and loaded.
STARTUP_LOAD_WAIT_S = 120.0


async def initial_config(
    store: ConfigStore, registrar: Registrar, settings: Settings
) -> tuple[int, RoutingConfig]:
    """The stored config, seeded (with the versions it names) if Redis has none. Everything is
    checked before the first write, so a failed start leaves the store as it was."""
    await seed_store(seed_source(settings), store, registrar, GATEWAY_STARTUP)
    return await store.load()


async def wait_for_routed_versions(
    follower: ModelFollower, config: Callable[[], RoutingConfig]
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


def refuse_the_demo_token(settings: Settings) -> None:
    """Outside the demo, the well-known token would let anyone who reaches the port change
    production: a gateway refuses to start with it (``abgate serve`` generates a token)."""
    if settings.admin_token_is_default and not settings.demo:
        raise ConfigError(
            "ABGATE_ADMIN_TOKEN",
            f"is unset or the demo token {DEMO_ADMIN_TOKEN!r}, which anyone can read in the "
            "README; set a secret (abgate serve generates one when it is unset)",
        )


def build_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[error_middleware, auth_middleware, answer_middleware],
        handler_args=HANDLER_ARGS | {"keepalive_timeout": settings.keepalive_s},
    )
    app[LIMITS] = ConnectionLimits(
        settings.header_timeout_s, connection_cap(settings.max_connections)
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url is None:
            raise RuntimeError(
                "REDIS_URL must be set for the gateway process (abgate serve sets it)"
            )
        refuse_the_demo_token(settings)
        metrics.series_at_start()
        redis = redis_client(settings.redis_url)
        policy = BatchPolicy(
            settings.max_batch_pairs,
            settings.max_wait_ms / 1000.0,
            settings.batch_queue,
            inline=settings.scores_inline,
        )
        options = SessionOptions(settings.intra_op_threads, settings.prefer_cuda)
        registry = ModelRegistry()
        keys = settings.keys
        store = ConfigStore(redis, keys)
        tokens = TokenStore(redis, keys)
        model_store = ModelStore(redis, keys)
        artifacts = ArtifactStore(settings.models_dir)
        registrar = Registrar(
            model_store,
            artifacts,
            options,
            settings.gate_policy,
            settings.eval_file,
            gate_timeout_s=settings.gate_timeout_s,
            gate_cache=None
            if settings.gate_cache_dir is None
            else GateCache(settings.gate_cache_dir),
        )
        version, config = await initial_config(store, registrar, settings)
        sink = EventSink(
            redis, Spool(settings.spool_dir), SinkPolicy(durable=settings.ack_mode == "durable")
        )
        router = Router(config, version)
        follower = ModelFollower(
            model_store,
            artifacts,
            registry,
            registrar,
            policy,
            options,
            settings.max_loaded_models,
            lambda: gw.router.config,
        )
        gw = Gateway(
            settings,
            keys,
            redis,
            registry,
            store,
            sink,
            router,
            model_store,
            artifacts,
            registrar,
            follower,
            OpsMeter(redis, keys),
            ShadowClient(
                redis,
                keys,
                settings.redis_url,
                settings.models_dir,
                settings.intra_op_threads,
                settings.shadow_cpu_share,
            ),
            tokens,
            Authenticator(tokens, settings.admin_token, redis_down=lambda: not sink.redis_ok),
            RefusalAudit(redis, keys),
            await load_signer(redis, keys),
        )
        gw.redis_guard = RedisGuard(known_down=lambda: not sink.redis_ok)

        def on_update(new_version: int, new_config: RoutingConfig) -> None:
            gw.router = Router(new_config, new_version)
            metrics.CONFIG_VERSION.set(new_version)
            follower.kick()
            if new_config.shadows:
                gw.shadow.shadowing()
            log.info("config version %d applied", new_version)

        gw.watcher = ConfigWatcher(store, on_update, version)
        metrics.CONFIG_VERSION.set(version)
        app[GATEWAY] = gw
        try:
            await wait_for_routed_versions(follower, lambda: gw.router.config)
            sink.start()
            gw.lag.start()
            gw.watcher.start()
            follower.start()
            gw.ops.start()
            gw.shadow.start(shadowing=bool(gw.router.config.shadows))
            gw.refusal_audit.start()
            yield
        finally:
            await gw.refusal_audit.close()
            gw.lag.close()
            await gw.shadow.close()
            await gw.ops.close()
            await follower.close()
            await gw.watcher.close()
            await sink.close()
            await registry.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(redis.aclose(), 2.0)

    async def drain(app: web.Application) -> None:
        gw = app[GATEWAY]
        gw.start_draining()
        # Gate runs stop now, their claims given up for another process, rather than after
        # the drain: a run's deadline could pass meanwhile and fail a version that was fine.
        await gw.follower.close()

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(drain)
    app.on_response_prepare.append(add_security_headers)
    app[ROLES] = add_routes(app)
    app[ANSWER_TYPES] = answer_decoders(ROUTES)
    app[SERVING_OPEN] = settings.serving_auth == "open"
    # Public pages: the API reference and the dashboard (their data come from the API, with the
    # caller's token), and the files they load from the package.
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_get("/docs", openapi.docs)
    app.router.add_get("/dashboard", admin.dashboard)
    app.router.add_get("/", admin.home)
    app.router.add_static("/static", STATIC)
    return app
