"""gateway.startup: the backoff, and waiting for Redis until it answers, a stop, or the deadline
(the live processes: tests/e2e/test_startup_wait.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError, ConnectionError

from gateway.redis_urls import redacted
from gateway.startup import Backoff, Progress, StartupFailed, wait_for_redis

log = logging.getLogger("test")
FAST = Backoff(first_s=0.001, cap_s=0.004)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff().delay(n) for n in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert Backoff().delay(10_000) == 5.0


def test_urls_lose_their_password() -> None:
    assert redacted("redis://:s3cret@cache:6379/0") == "redis://***@cache:6379/0"
    assert redacted("rediss://app:s3cret@cache:6380") == "rediss://app:***@cache:6380"
    assert redacted("redis://cache:6379/0") == "redis://cache:6379/0"


class Flaky:
    """Fails ``times`` times (as a Redis still starting does), then answers."""

    def __init__(self, times: int) -> None:
        self.times, self.calls = times, 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise (BusyLoadingError if self.calls % 2 else ConnectionError)("not yet")


async def test_it_waits_until_redis_answers_and_says_why_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    progress, check = Progress(), Flaky(times=3)
    with caplog.at_level(logging.INFO, "test"):
        ok = await wait_for_redis(
            cast(Redis, None), "redis://:pw@r:1/0", 30.0, progress, log, check, backoff=FAST
        )
    assert ok and check.calls == 4
    assert progress.phase == "redis" and "waiting for Redis at redis://***@r:1/0: not yet" in (
        progress.why
    )
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if line.startswith("waiting for Redis")]) == 3
    assert lines[-1] == "Redis at redis://***@r:1/0 answers (after 4 attempts)"
    assert "pw" not in " ".join(lines)


async def test_it_gives_up_after_the_deadline_naming_the_setting() -> None:
    with pytest.raises(StartupFailed, match=r"within 0.02 s \(ABGATE_REDIS_WAIT_S\): not yet"):
        await wait_for_redis(
            cast(Redis, None), "redis://r:1", 0.02, Progress(), log, Flaky(10**9), backoff=FAST
        )


async def test_a_stop_ends_the_wait() -> None:
    stop = asyncio.Event()
    check: Any = Flaky(10**9)
    waiting = asyncio.ensure_future(
        wait_for_redis(cast(Redis, None), "redis://r:1", 60.0, Progress(), log, check, stop)
    )
    await asyncio.sleep(0.05)
    stop.set()
    assert await waiting is False


async def test_refused_credentials_end_the_wait_at_once() -> None:
    from redis.exceptions import AuthenticationError, ResponseError

    for error in (AuthenticationError("invalid password"), ResponseError("WRONGPASS invalid")):

        async def check(error: Exception = error) -> None:
            raise error

        with pytest.raises(StartupFailed, match=r"refused the credentials: .*REDIS_URL"):
            await wait_for_redis(
                cast(Redis, None), "redis://:pw@r:1", 60.0, Progress(), log, check, backoff=FAST
            )


def test_a_url_the_client_cannot_read_is_one_line_naming_redis_url() -> None:
    from gateway.errors import ConfigError
    from gateway.redis_client import redis_client

    with pytest.raises(
        ConfigError, match=r"^REDIS_URL: redis://\*\*\*@h:1/0\?socket_timeout=abc: "
    ):
        redis_client("redis://:pw@h:1/0?socket_timeout=abc")


def test_the_worker_metrics_port_is_checked() -> None:
    import argparse
    import socket

    from gateway.cli import port_number
    from gateway.errors import GatewayError
    from gateway.worker.consumer import ConsumerStats
    from gateway.worker.health import WorkerState, start_health_server

    for bad in ("0", "99999", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="a port from 1 to 65535"):
            port_number(bad)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def start() -> None:
            await start_health_server(ConsumerStats(), WorkerState(), "127.0.0.1", port)

        with pytest.raises(GatewayError, match=f"--metrics-port {port}: cannot listen"):
            asyncio.run(start())


def test_an_install_without_an_embedded_redis_needs_redis_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The container image sets ABGATE_EMBEDDED_REDIS=0: without REDIS_URL a replica refuses to
    start rather than run on a store of its own."""
    from gateway.cli import main

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ABGATE_EMBEDDED_REDIS", "0")
    monkeypatch.setenv("ABGATE_ADMIN_TOKEN", "a-secret-of-thirty-two-characters-x")
    for command in (["worker"], ["serve"], ["backup", "/nonexistent/b"]):
        assert main(command) == 2, command
        assert "abgate: REDIS_URL: is unset, and this install starts no Redis of its own" in (
            capsys.readouterr().err
        )
    monkeypatch.setenv("ABGATE_EMBEDDED_REDIS", "maybe")
    assert main(["worker"]) == 2
