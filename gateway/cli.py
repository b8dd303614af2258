"""The ``abgate`` command: run the demo, serve, work, build models, administer experiments."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.admin_cli import add_admin_commands
from gateway.cli_backup import add_backup_commands
from gateway.errors import ConfigError, GatewayError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from gateway.processes import ProcessGroup
    from gateway.settings import Settings

log = logging.getLogger("abgate")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("abgate")
    except PackageNotFoundError:
        return "(not installed)"


def _logging(verbose: bool) -> None:
    from gateway.logs import configure

    configure(logging.INFO if verbose else logging.WARNING)


def _ensure_models(settings: Settings) -> None:
    try:
        from sim.build import ensure_demo_models

        ensure_demo_models(settings.seed_models_dir)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise GatewayError(
            "the demo's models are built with torch, which this install lacks (`pip install .` "
            "and the container image are the runtime alone): pip install '.[models]', or run "
            "the demo from a checkout with `make run`"
        ) from None


@contextlib.contextmanager
def _redis(settings: Settings, data_dir: Path | None = None) -> Any:
    """Yield the Redis URL: REDIS_URL if set, else an embedded server (under var/redis/<prefix>
    unless ``data_dir`` says otherwise)."""
    from gateway.redis_server import shared_embedded_redis

    if settings.redis_url:
        yield settings.redis_url
        return
    if not settings.embedded_redis:
        raise ConfigError(
            "REDIS_URL",
            "is unset, and this install starts no Redis of its own (ABGATE_EMBEDDED_REDIS=0, as "
            "in the container image): set it to your Redis, e.g. redis://redis:6379/0",
        )
    data_dir = data_dir or settings.var_dir / "redis" / settings.prefix
    with shared_embedded_redis(data_dir) as (url, owned):
        if owned:
            print(f"embedded redis-server on {url} (data in {data_dir})", flush=True)
        else:
            print(f"using the embedded redis-server on {url} of another abgate process "
                  f"(data in {data_dir}; it stops with that process)", flush=True)  # fmt: skip
        yield url


def _start_gateways(
    group: ProcessGroup,
    settings: Settings,
    redis_url: str,
    workers: int,
    stopped: Callable[[], bool] = lambda: False,
) -> str | None:
    """Start the gateway processes and wait until each is ready: their base URL, or None if
    ``stopped()`` came first."""
    from gateway.http.services import STARTUP_LOAD_WAIT_S
    from gateway.metrics import MULTIPROC_ENV, fresh_metrics_dir
    from gateway.processes import wait_ready

    env = {
        "REDIS_URL": redis_url,
        "ABGATE_PORT": str(settings.port),
        "ABGATE_HOST": settings.host,
        # One deployment: its processes share the port, and no other deployment's may.
        "ABGATE_DEPLOYMENT": uuid.uuid4().hex,
        # One metrics directory for these processes: a scrape of any one sums them all.
        MULTIPROC_ENV: str(
            fresh_metrics_dir(settings.var_dir, f"{settings.prefix}-{settings.port}")
        ),
    }
    for i in range(workers):
        group.spawn(f"gateway-{i}", ["serve-one"], env)
    base = f"http://{settings.host}:{settings.port}"
    # Each process waits for Redis and then loads the versions it serves, each with a deadline.
    ready = wait_ready(
        base + "/readyz",
        group,
        processes=workers,
        timeout_s=settings.redis_wait_s + STARTUP_LOAD_WAIT_S + 60.0,
        stopped=stopped,
    )
    return base if ready else None


def _stop_on_signals() -> Callable[[], bool]:
    """SIGTERM and SIGINT from now on ask for a stop (the caller stops its processes in
    order): whether one came."""
    stop = {"now": False}

    def handler(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: stop["now"]


def _wait_for_signal(group: ProcessGroup, stopped: Callable[[], bool]) -> None:
    while not stopped():
        group.check()
        time.sleep(0.2)


def admin_token_for_serve() -> None:
    """Outside the demo the well-known token is refused; when none is set, one is generated
    for this run, printed once, and handed to the gateway processes."""
    from gateway.access.tokens import new_token
    from gateway.settings import DEMO_ADMIN_TOKEN

    raw = os.environ.get("ABGATE_ADMIN_TOKEN")
    if raw == DEMO_ADMIN_TOKEN:
        raise ConfigError(
            "ABGATE_ADMIN_TOKEN",
            f"is the demo token {DEMO_ADMIN_TOKEN!r}, which anyone can read in the README; "
            "set a secret, or unset it and abgate serve generates one",
        )
    if raw is None:
        token = new_token()
        os.environ["ABGATE_ADMIN_TOKEN"] = token
        print(
            f"admin token for this run (not stored; set ABGATE_ADMIN_TOKEN to keep one): {token}\n"
            "  create per-person tokens with: ABGATE_TOKEN=<this> abgate tokens create NAME "
            "--role viewer|experimenter|admin\n"
            "  and the storefront's (searches and events need one unless "
            "ABGATE_SERVING_AUTH=open): abgate tokens create shop --role storefront",
            flush=True,
        )


def check_seed(settings: Settings, redis_url: str) -> None:
    """Check what the gateway processes will seed (the routing file, every card and ONNX file
    it needs, the versions it names) before one starts, reading Redis only: a start that
    would fail says why at once and writes nothing."""
    from gateway.control.store import ConfigStore
    from gateway.inference.session import SessionOptions
    from gateway.models.seed import plan_seed, seed_source
    from gateway.models.store import ModelStore
    from gateway.redis_client import redis_client
    from gateway.redis_urls import redacted
    from gateway.startup import NOT_THERE, credentials_refused, refused_credentials

    source = seed_source(settings)

    async def plan() -> None:
        redis = redis_client(redis_url)
        try:
            keys = settings.keys
            options = SessionOptions(settings.intra_op_threads, prefer_cuda=False)
            found = await plan_seed(
                source, ConfigStore(redis, keys), ModelStore(redis, keys), options
            )
        except NOT_THERE as exc:
            if refused_credentials(exc):
                raise credentials_refused(redacted(redis_url), exc) from None
            print(
                f"Redis at {redacted(redis_url)} does not answer yet ({exc}): the gateway "
                f"processes wait for it (up to ABGATE_REDIS_WAIT_S, {settings.redis_wait_s:g} s) "
                "and check the seed then",
                flush=True,
            )
            return
        finally:
            await redis.aclose()
        if found.models:
            names = ", ".join(m.version for m in found.models)
            print(f"seeding {names} from {source.models_dir} (gates run first)", flush=True)
        if found.config.production is None:
            print(
                "no production version yet: searches are answered 503 until one is registered "
                "and set (abgate models register ...; abgate production set VERSION --reason ...)",
                flush=True,
            )

    asyncio.run(plan())


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.processes import ProcessGroup
    from gateway.settings import Settings

    if args.seed is not None:
        os.environ["ABGATE_SEED"] = str(Path(args.seed).resolve())
    admin_token_for_serve()
    settings = Settings.from_env()
    group = ProcessGroup()
    # From here a signal stops the gateway processes too, also while they start (they run in
    # sessions of their own, so a signal to this one's process group does not reach them).
    stopped = _stop_on_signals()
    with _redis(settings) as redis_url:
        try:
            check_seed(settings, redis_url)
            base = _start_gateways(group, settings, redis_url, args.workers, stopped)
            if base is None:
                return 0
            print(f"abgate gateway: {_processes(args.workers)} on {base}", flush=True)
            serving = (
                "open to anyone who reaches the port (ABGATE_SERVING_AUTH=open)"
                if settings.serving_auth == "open"
                else "need a storefront token (abgate tokens create NAME --role storefront)"
            )
            print(f"  searches and events {serving}", flush=True)
            _wait_for_signal(group, stopped)
        finally:
            group.stop()
    return 0


def cmd_serve_one(args: argparse.Namespace) -> int:
    from gateway.http.app import build_app
    from gateway.http.connections import raise_descriptor_limit
    from gateway.http.server import serve
    from gateway.settings import Settings

    raise_descriptor_limit()
    settings = Settings.from_env()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(build_app(settings), settings.host, settings.port, stop)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    return 0


def cmd_shadow_worker(args: argparse.Namespace) -> int:
    from gateway.ops.shadow_worker import main

    if not args.redis_url:
        raise ConfigError("--redis-url", "or REDIS_URL must name the Redis")

    return main(
        args.redis_url, args.prefix, Path(args.models_dir), args.intra_op_threads, args.cpu_share
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from gateway.settings import Settings
    from gateway.worker.service import run_worker

    settings = Settings.from_env()

    async def main(redis_url: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(
            dataclasses.replace(settings, redis_url=redis_url),
            args.interval,
            stop,
            args.metrics_port,
        )

    with _redis(settings) as redis_url:
        asyncio.run(main(redis_url))
    return 0


def demo_corner() -> Path:
    """``abgate run`` keeps to a corner of its own and deletes nothing: its Redis data, spool
    and model store under ``<var>/demo/``, and a key prefix of its own per run (a fresh story
    each time), so neither an earlier demo nor an ``abgate serve`` deployment in the same
    checkout (or on the same ``REDIS_URL``) is touched. Sets the environment that the demo's
    processes inherit; returns the demo's embedded Redis data directory."""
    from gateway.settings import ROOT

    var_dir = Path(os.environ.get("ABGATE_VAR_DIR", ROOT / "var"))
    os.environ.setdefault("ABGATE_SEED_MODELS", str(var_dir / "demo-models"))  # the build cache
    demo_dir = var_dir / "demo"
    os.environ["ABGATE_VAR_DIR"] = str(demo_dir)
    os.environ["ABGATE_PREFIX"] = time.strftime("demo-%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    os.environ["ABGATE_DEMO"] = "1"  # the children may use the demo token without a warning
    # The demo's production, prod-v1 (a deployment's own starts with none).
    os.environ["ABGATE_ROUTING"] = str(ROOT / "configs" / "demo" / "routing.toml")
    os.environ.pop("ABGATE_SEED", None)
    # The simulated storefront sends searches and events without a key; a deployment requires one.
    os.environ.setdefault("ABGATE_SERVING_AUTH", "open")
    return demo_dir / "redis"


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.client import AdminClient
    from gateway.processes import ProcessGroup
    from gateway.settings import Settings
    from sim.demo import run_story

    redis_dir = demo_corner()
    settings = Settings.from_env()
    print(
        f"abgate: demo data under {settings.var_dir} (prefix {settings.prefix}; earlier runs' "
        "data is kept: remove that folder when you no longer want it)",
        flush=True,
    )
    print("abgate: preparing demo models (first run trains them with torch) ...", flush=True)
    _ensure_models(settings)
    # The story has the terminal (or the pipe) to itself: the processes' logs go to a file.
    logs = settings.var_dir / "logs" / f"{settings.prefix}.log"
    logs.parent.mkdir(parents=True, exist_ok=True)
    print(f"abgate: the gateway's and the worker's logs go to {logs}", flush=True)
    with logs.open("ab") as log_file, _redis(settings, redis_dir) as redis_url:
        group = ProcessGroup(output=log_file)
        try:
            base = _start_gateways(group, settings, redis_url, args.workers)
            assert base is not None  # no stop asked for: ready, or an error
            group.spawn(
                "worker", ["worker", "--interval", str(args.interval)], {"REDIS_URL": redis_url}
            )
            print(
                f"gateway: {_processes(args.workers)} on {base}; worker evaluating every "
                f"{args.interval:g} s",
                flush=True,
            )
            token = (
                settings.admin_token
                if settings.admin_token_is_default
                else "(yours, from ABGATE_ADMIN_TOKEN)"
            )
            print(
                f"dashboard: {base}/dashboard   API: {base}/docs   admin token: {token}", flush=True
            )
            client = AdminClient(base, settings.admin_token)

            async def main() -> None:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)
                await run_story(
                    base,
                    client,
                    settings.seed_models_dir,
                    group,
                    args.workers,
                    args.seed,
                    args.concurrency,
                    args.progress_every,
                    args.exit_after_decision,
                    stop,
                    token if settings.admin_token_is_default else "<your admin token>",
                )

            asyncio.run(main())
        finally:
            print("stopping ...", flush=True)
            group.stop()
    print("stopped cleanly.", flush=True)
    return 0


def cmd_build_models(args: argparse.Namespace) -> int:
    from gateway.settings import Settings

    settings = Settings.from_env()
    _ensure_models(settings)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    """``abgate set`` was one of two verbs for the same change; the one left names itself."""
    raise ConfigError(
        "abgate set",
        "is now 'abgate experiments traffic KEY [--weights a=0.5,b=0.5] [--coverage X] --reason R'",
    )


class Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr, ``abgate: ...``, and exit 2 (as every user error)."""

    def error(self, message: str) -> NoReturn:
        # argparse lists every choice of an invalid one, the hidden internal commands too.
        message = re.sub(r" \(choose from .*\)$", "", message)
        command = self.prog.removeprefix("abgate").strip()  # "experiments traffic", or ""
        where = f"{command}: " if command else ""
        self.exit(2, f"abgate: {where}{message} (see {self.prog} --help)\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops a failed write silently; a closed stdout stops abgate (exit 141).
        if message:
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="abgate",
        description=__doc__,
        epilog="A user error is one line on stderr and exit 2; output into a closed pipe "
        "(abgate audit | head -1) stops quietly with exit 141, as a shell reports SIGPIPE; "
        "Ctrl-C exits 130. abgate COMMAND --help says more.",
    )
    parser.add_argument("--version", action="version", version=f"abgate {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    parser.add_argument(
        "--url",
        dest="global_url",
        metavar="URL",
        help="the gateway for the admin commands, host:port or http(s)://host:port (default: "
        "ABGATE_URL, else 127.0.0.1:ABGATE_PORT); the command's own --url wins",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    run = sub.add_parser(
        "run", help="the whole system on embedded defaults, with simulated shoppers"
    )
    run.add_argument(
        "--workers", type=process_count, default=2, help="gateway processes (default 2)"
    )
    run.add_argument("--interval", type=float, default=2.0, help="seconds between evaluations")
    run.add_argument("--concurrency", type=int, default=24, help="concurrent simulated shoppers")
    run.add_argument("--seed", type=int, default=1, help="the simulated shoppers' random seed")
    run.add_argument(
        "--progress-every", type=float, default=2.0, help="seconds between progress lines"
    )
    run.add_argument(
        "--exit-after-decision", action="store_true", help="stop once the story has been told"
    )
    run.set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="the gateway: N processes sharing the port (SO_REUSEPORT)")
    serve.add_argument(
        "--workers", type=process_count, default=2, help="gateway processes (default 2)"
    )
    serve.add_argument(
        "--seed",
        metavar="DIR",
        help="seed an empty store from DIR/<version>/{model.onnx,card.json} and an optional "
        "DIR/routing.toml (without one, DIR's only version becomes production)",
    )
    serve.set_defaults(func=cmd_serve)
    # Internal commands, started by abgate itself: not listed (argparse.SUPPRESS), but helped.
    one = sub.add_parser("serve-one", description="one gateway process (abgate serve starts N)")
    one.set_defaults(func=cmd_serve_one)
    shadow = sub.add_parser(
        "shadow-worker", description="a gateway's shadow scorer (the gateway starts it)"
    )
    shadow.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="the Redis to read and write (default: $REDIS_URL, which keeps a password off "
        "the process list)",
    )
    shadow.add_argument("--prefix", required=True, help="the deployment's key prefix")
    shadow.add_argument("--models-dir", required=True, help="the model store's directory")
    shadow.add_argument("--intra-op-threads", type=int, default=1, help="ONNX Runtime threads")
    shadow.add_argument("--cpu-share", type=float, default=0.05, help="the CPU share it may use")
    shadow.set_defaults(func=cmd_shadow_worker)
    worker = sub.add_parser("worker", help="consume events, keep statistics, evaluate and decide")
    worker.add_argument(
        "--interval", type=float, default=2.0, help="seconds between evaluations (default 2)"
    )
    worker.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        help="serve /metrics (Prometheus) and /healthz on this port (default: none)",
    )
    worker.set_defaults(func=cmd_worker)
    build = sub.add_parser(
        "build-models", help="train and export the demo models into ABGATE_SEED_MODELS if missing"
    )
    build.set_defaults(func=cmd_build_models)
    add_admin_commands(sub)
    add_backup_commands(sub)
    gone = sub.add_parser("set", description="replaced by: abgate experiments traffic")
    gone.add_argument("rest", nargs=argparse.REMAINDER, help="ignored")
    gone.set_defaults(func=cmd_set)
    return parser


def _processes(count: int) -> str:
    return f"{count} process" + ("" if count == 1 else "es")


def process_count(text: str) -> int:
    """An argparse type: how many processes (at least one)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"a whole number of processes, 1 or more, got {text!r}")
    return count


def port_number(text: str) -> int:
    """An argparse type: a TCP port to listen on."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port from 1 to 65535, got {text!r}")
    return port


def _closed_stdout() -> int:
    """The reader of stdout went away (``abgate audit | head -1``): stop quietly. Python's
    advice: point stdout at devnull so the exit's flush cannot fail again; exit 141, what a
    shell reports for a command stopped by SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _logging(args.verbose or args.command in ("serve-one", "worker", "shadow-worker"))
        code = int(args.func(args))
        sys.stdout.flush()
        return code
    except GatewayError as exc:
        print(f"abgate: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _closed_stdout()
    except KeyboardInterrupt:
        return 130
    except SystemExit:  # argparse's --help, --version and usage errors: their output too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return _closed_stdout()
        raise


if __name__ == "__main__":
    sys.exit(main())
