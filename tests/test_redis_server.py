"""Processes on one var directory share one embedded redis-server: the first owns it, the
others use it; none starts a second server on the same AOF."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gateway.errors import GatewayError
from gateway.redis_server import URL_FILE, free_port, shared_embedded_redis
from gateway.settings import ROOT


def test_the_second_user_of_a_data_dir_shares_the_first_ones_server(tmp_path: Path) -> None:
    with shared_embedded_redis(tmp_path / "r") as (url, owned):
        assert owned
        with shared_embedded_redis(tmp_path / "r") as (second, owned_too):
            assert second == url and not owned_too
            a, b = redis.Redis.from_url(url), redis.Redis.from_url(second)
            a.set("k", "v")
            assert b.get("k") == b"v"
            a.close()
            b.close()
    assert not (tmp_path / "r" / URL_FILE).exists()  # the owner took its server down with it
    with shared_embedded_redis(tmp_path / "r") as (_, owned):
        assert owned  # the lock is free again


def test_a_held_lock_without_a_server_is_named(tmp_path: Path) -> None:
    with shared_embedded_redis(tmp_path / "r"):
        (tmp_path / "r" / URL_FILE).write_text(f"redis://127.0.0.1:{free_port()}/0")
        with (
            pytest.raises(GatewayError, match=r"did not answer within 0\.5 s"),
            shared_embedded_redis(tmp_path / "r", wait_s=0.5),
        ):
            pass


@contextlib.contextmanager
def _abgate(env: dict[str, str], *args: str, skip: int = 0) -> Iterator[str]:
    """Run ``abgate ARGS`` in a session of its own; yield the first line it prints (after
    ``skip`` lines)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        for _ in range(skip):
            process.stdout.readline()
        yield process.stdout.readline()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        process.stdout.close()


def test_serve_and_worker_without_redis_url_share_one_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ABGATE_ADMIN_TOKEN")}
    env |= {"ABGATE_VAR_DIR": str(tmp_path), "ABGATE_PORT": str(free_port()),
            "ABGATE_PREFIX": "shared", "ABGATE_SEED_MODELS": str(ROOT / "var" / "demo-models")}  # fmt: skip
    with _abgate(env, "serve", "--workers", "1", skip=3) as first:
        # (its first three lines: the admin token it generated, as none was set, and how to
        # make per-person and storefront tokens with it)
        assert first.startswith("embedded redis-server on "), first
        with _abgate(env, "worker") as line:
            assert line.startswith("using the embedded redis-server on "), line
            assert line.split()[5] == first.split()[3]  # the same URL


def test_serve_generates_an_admin_token_when_none_is_set_and_refuses_the_demo_one(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ABGATE_ADMIN_TOKEN")}
    env |= {"ABGATE_VAR_DIR": str(tmp_path), "ABGATE_PORT": str(free_port()),
            "ABGATE_PREFIX": "tok", "ABGATE_SEED_MODELS": str(ROOT / "var" / "demo-models")}  # fmt: skip
    with _abgate(env, "serve", "--workers", "1") as first:
        assert first.startswith("admin token for this run"), first
        assert first.split()[-1].startswith("abg_") and len(first.split()[-1]) > 40
    refused = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--workers", "1"],
        env=env | {"ABGATE_ADMIN_TOKEN": "dev-admin-token"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "demo token" in refused.stderr
    assert "Traceback" not in refused.stderr
