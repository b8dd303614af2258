"""Start-up that waits: a process started before its Redis retries with backoff, says what it
is waiting for (one log line per attempt, and its readiness answer), and gives up with one
line, not a traceback, after ``ABGATE_REDIS_WAIT_S``; the service manager then restarts it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisClusterException, RedisError

from gateway.errors import GatewayError
from gateway.redis_urls import redacted

# What a Redis that is not there (yet) raises: refused or unresolved connections, timeouts,
# "loading the dataset in memory", a cluster whose nodes do not answer.
NOT_THERE = (RedisError, OSError, RedisClusterException)


def refused_credentials(exc: BaseException) -> bool:
    """Whether Redis answered and refused the client's user or password."""
    text = str(exc)
    return isinstance(exc, AuthenticationError) or text.startswith(("WRONGPASS", "NOAUTH"))


class StartupFailed(GatewayError):
    """A process could not start within its deadline; the message says what it waited for."""


def credentials_refused(where: str, exc: BaseException) -> StartupFailed:
    return StartupFailed(
        f"Redis at {where} refused the credentials: {str(exc) or type(exc).__name__} (the user "
        "and password in REDIS_URL)"
    )


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``first_s``, doubling, at most ``cap_s``."""

    first_s: float = 0.25
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.cap_s, self.first_s * 2.0 ** min(attempt, 32))


@dataclass
class Progress:
    """What a starting process is doing, for its readiness answer until it serves."""

    phase: str = "starting"
    why: str = "starting"
    since: float = field(default_factory=time.monotonic)

    def set(self, phase: str, why: str) -> None:
        if phase != self.phase:
            self.since = time.monotonic()
        self.phase, self.why = phase, why


async def wait_for_redis(
    redis: Redis,
    url: str,
    deadline_s: float,
    progress: Progress,
    log: logging.Logger,
    ready: Callable[[], Awaitable[object]] | None = None,
    stop: asyncio.Event | None = None,
    backoff: Backoff = Backoff(),
) -> bool:
    """Until ``ready()`` (a PING by default) succeeds: True; False if ``stop`` was set first.
    Raises :class:`StartupFailed` once ``deadline_s`` has passed since the first attempt."""
    check = ready or redis.ping
    where = redacted(url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    attempt = 0
    while True:
        if stop is not None and stop.is_set():
            return False
        try:
            await check()
        except NOT_THERE as exc:
            waited = loop.time() - start
            reason = str(exc) or type(exc).__name__
            if refused_credentials(exc):  # not a Redis still starting: waiting would not help
                raise credentials_refused(where, exc) from None
            if waited >= deadline_s:
                raise StartupFailed(
                    f"Redis at {where} did not answer within {deadline_s:g} s "
                    f"(ABGATE_REDIS_WAIT_S): {reason}"
                ) from None
            delay = min(backoff.delay(attempt), deadline_s - waited)
            progress.set(
                "redis",
                f"waiting for Redis at {where}: {reason} ({waited:.0f} s of {deadline_s:g} s)",
            )
            log.warning(
                "waiting for Redis at %s: %s (attempt %d, %.0f s of %g s; next in %.2f s)",
                where,
                reason,
                attempt + 1,
                waited,
                deadline_s,
                delay,
            )
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            attempt += 1
        else:
            if attempt:
                log.info("Redis at %s answers (after %d attempts)", where, attempt + 1)
            return True
