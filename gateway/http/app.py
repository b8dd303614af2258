"""The aiohttp application: its middlewares and routes, and its services (gateway.http.services),
each opened and closed in a cleanup context of its own."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import ConfigError
from gateway.http import admin, openapi
from gateway.http.answer_check import ANSWER_TYPES, answer_decoders, answer_middleware
from gateway.http.auth import ROLES, SERVING_OPEN, auth_middleware
from gateway.http.connections import LIMITS, ConnectionLimits, connection_cap
from gateway.http.errors import error_middleware
from gateway.http.routes import ROUTES, add_routes
from gateway.http.security_headers import add_security_headers
from gateway.http.server import HANDLER_ARGS
from gateway.http.services import PROGRESS, SERVICES, SETTINGS
from gateway.http.state import GATEWAY
from gateway.http.static import STATIC
from gateway.settings import DEMO_ADMIN_TOKEN, Settings
from gateway.startup import Progress


def refuse_the_demo_token(settings: Settings) -> None:
    """Outside the demo, the well-known token would let anyone who reaches the port change
    production: a gateway refuses to start with it (``abgate serve`` generates a token)."""
    if settings.admin_token_is_default and not settings.demo:
        raise ConfigError(
            "ABGATE_ADMIN_TOKEN",
            f"is unset or the demo token {DEMO_ADMIN_TOKEN!r}, which anyone can read in the "
            "README; set a secret (abgate serve generates one when it is unset)",
        )


async def drain(app: web.Application) -> None:
    gw = app[GATEWAY]
    gw.start_draining()
    # Gate runs stop now, their claims given up for another process, rather than after the
    # drain: a run's deadline could pass meanwhile and fail a version that was fine.
    await gw.follower.close()


def build_app(settings: Settings) -> web.Application:
    refuse_the_demo_token(settings)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[error_middleware, auth_middleware, answer_middleware],
        handler_args=HANDLER_ARGS | {"keepalive_timeout": settings.keepalive_s},
    )
    app[SETTINGS] = settings
    app[PROGRESS] = Progress()
    app[LIMITS] = ConnectionLimits(
        settings.header_timeout_s, connection_cap(settings.max_connections)
    )
    app.cleanup_ctx.extend(SERVICES)
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
