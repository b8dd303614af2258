"""Session-wide real components: one redis-server on a free port, the demo ONNX models."""

from __future__ import annotations

import fcntl
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from gateway.redis_cluster import LocalCluster
from gateway.redis_server import EmbeddedRedis
from gateway.settings import ROOT, Settings
from tests.tokens import seed_tokens

TEST_CONFIGS = Path(__file__).parent / "configs"
GATE_CACHE_ENV = "ABGATE_GATE_CACHE_DIR"


# Modules outside tests/e2e that start live systems or run for many seconds: with tests/e2e,
# what `make test-fast` leaves out (`-m "not slow"`); `make test` runs everything.
SLOW_MODULES: Final = frozenset(
    {
        "tests/http/test_api_properties.py",
        "tests/http/test_fuzz.py",
        "tests/sim/test_study.py",
        "tests/sim/test_interleaving_study.py",
        "tests/worker/test_consumer_faults.py",
    }
)


# The longest modules (each a minute or more with others beside it), first: spread over the
# suite's processes (make test), they start at once instead of one of them starting last and
# running on alone. Order only; every module still runs.
LONGEST_FIRST: Final = (
    "tests/e2e/test_cluster.py",
    "tests/e2e/test_faults.py",  # long, but mostly waiting (a paused Redis)
    "tests/e2e/test_decision_loop.py",
    "tests/e2e/test_demo.py",
    "tests/e2e/test_cuped.py",
    "tests/e2e/test_bring_your_ranker.py",
    "tests/e2e/test_ramp.py",
    "tests/e2e/test_readme.py",
    "tests/e2e/test_lifecycle.py",
    "tests/e2e/test_admin_cli.py",
    "tests/http/test_fuzz.py",
    "tests/e2e/test_dashboard.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent.parent
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    where = {item: item.path.relative_to(root).as_posix() for item in items}
    for item in items:
        if where[item].startswith("tests/e2e/") or where[item] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: rank.get(where[item], len(rank)))  # stable: order kept within


@pytest.fixture(scope="session", autouse=True)
def gate_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every gateway of the session, in this process or spawned by a test, reuses the records
    of identical gate runs (gateway.models.gate_cache): the suite registers the same demo
    versions hundreds of times, and each run costs a child process seconds of CPU. A run that
    differs in anything (a hostile model, another policy or dataset) still runs; the tests of
    the gates themselves call the runner directly. One folder for the session (shared by
    pytest-xdist's workers), never reused by a later session: a cached record cannot outlive
    the gate code that made it."""
    directory = tmp_path_factory.getbasetemp().parent / f"gate-cache-{_session_id()}"
    before = os.environ.get(GATE_CACHE_ENV)
    os.environ[GATE_CACHE_ENV] = str(directory)
    yield directory
    if before is None:
        os.environ.pop(GATE_CACHE_ENV, None)
    else:
        os.environ[GATE_CACHE_ENV] = before


def _session_id() -> str:
    """The same for every xdist worker of one run (their controller's id), unique per run."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12] or uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A real Redis Cluster on loopback, three masters (started on first use)."""
    with LocalCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3) as cluster:
        yield cluster


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, for tests that stop or pause it."""
    server = EmbeddedRedis(tmp_path / "own-redis").start()  # AOF: survives a stop/start
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)  # in case the test left it paused
    server.stop()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The demo models and their cards, built on first use into var/demo-models (shared with
    `make run`); a gateway registers the ones its seed config names from here."""
    from sim.build import ensure_demo_models

    directory = ROOT / "var" / "demo-models"
    directory.mkdir(parents=True, exist_ok=True)
    # pytest-xdist's workers all ask at once on a fresh clone: one builds, the others wait.
    with open(directory.parent / "demo-models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_demo_models(directory, log=lambda _msg: None)
    return directory


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own per test, so tests share one Redis without sharing state."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(
    redis_server: EmbeddedRedis, models_dir: Path, prefix: str, tmp_path: Path
) -> Settings:
    base = Settings.from_env()
    seed_tokens(redis_server.url, prefix)
    return replace(
        base,
        redis_url=redis_server.url,
        prefix=prefix,
        var_dir=tmp_path / "var",
        models_dir=tmp_path / "model-store",
        seed_models_dir=models_dir,
        routing_file=TEST_CONFIGS / "three_experiments.toml",
        admin_token="test-token",
        admin_token_is_default=False,
        max_body_bytes=64 * 1024,
        # A scoring stalled past the production deadline is a 503; on a busy 2-core test box a
        # run once took > 500 ms. The tests are not about that deadline: 5 s.
        score_timeout_s=5.0,
        # Searches and events without a storefront token: the tests of serving auth say
        # otherwise (tests/http/test_serving_auth.py).
        serving_auth="open",
    )
