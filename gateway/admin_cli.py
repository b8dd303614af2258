"""The admin verbs of ``abgate``: models, datasets, gates, experiments, production, shadow,
freeze, tokens, webhooks, audit. Each is a call of the admin API (:mod:`gateway.client`).

Read verbs print a table for a person, or the API's answer as JSON with ``-o json``; changes
print the API's answer as JSON. A user error (a bad option or file, a refusal by the gateway,
a gateway that is not there) is one line on stderr, ``abgate: ...``, and exit 2; see
:mod:`gateway.cli` for closed pipes and Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from gateway import cli_holdout, cli_segments
from gateway import cli_output as out
from gateway.access.roles import Role
from gateway.client import AdminClient
from gateway.errors import ConfigError
from gateway.webhooks.events import EVENT_TYPES

summary = out.summary  # the watch's terminal summary (kept importable from here)

Verb = Callable[[argparse.Namespace], int]
Printer = Callable[[Any], str]


def default_url() -> str:
    """ABGATE_URL, else the local gateway on ABGATE_PORT."""
    if os.environ.get("ABGATE_URL"):
        return os.environ["ABGATE_URL"]
    host = os.environ.get("ABGATE_HOST", "127.0.0.1")
    return f"{host}:{os.environ.get('ABGATE_PORT', '8080')}"


def base_url(text: str) -> str:
    """``host:port`` or ``http(s)://host[:port]`` as a base URL; a bad one is a ConfigError."""
    raw = text.strip()
    url = raw if "://" in raw else f"http://{raw}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            "--url", f"{text!r} is not host:port or http(s)://host:port ({exc})"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError("--url", f"{text!r} is not host:port or http(s)://host:port")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{netloc}{'' if port is None else f':{port}'}{path}"


def caller_token() -> str | None:
    """The caller's own token (ABGATE_TOKEN), else the deployment's admin token: the audit
    trail names the token's owner as the actor of every change."""
    return os.environ.get("ABGATE_TOKEN") or os.environ.get("ABGATE_ADMIN_TOKEN") or None


def _client(args: argparse.Namespace) -> AdminClient:
    # The verb's own --url, else the one given before the command (abgate --url H:P VERB).
    url = getattr(args, "url", None) or getattr(args, "global_url", None) or default_url()
    return AdminClient(base_url(url), caller_token())


def _print_json(data: Any) -> int:
    json.dump(data, sys.stdout, indent=2)
    print()
    return 0


def _show(args: argparse.Namespace, data: Any, printer: Printer) -> int:
    """A read verb's answer: the API's JSON (-o json) or ``printer``'s table."""
    if args.output == "json":
        return _print_json(data)
    print(printer(data))
    return 0


def _api(
    method: str,
    path: Callable[[argparse.Namespace], str],
    body: Callable[[argparse.Namespace], Any] | None = None,
) -> Verb:
    """A change that is one API call: its answer printed as JSON."""

    def run(a: argparse.Namespace) -> int:
        return _print_json(_client(a).request(method, path(a), None if body is None else body(a)))

    return run


def _read(path: Callable[[argparse.Namespace], str], printer: Printer) -> Verb:
    """A read that is one GET: a table, or its JSON with -o json."""

    def run(a: argparse.Namespace) -> int:
        return _show(a, _client(a).get(path(a)), printer)

    return run


def _seg(text: str) -> str:
    return quote(text, safe="")


def _json_file(path: Path, what: str) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), f"no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read the {what}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}", f"the {what} is not JSON: {exc.msg}"
        ) from None


def _model_card(args: argparse.Namespace) -> dict[str, Any]:
    """The card: --card, else card.json beside the file; the flags override its fields. The
    version is --version, else the card's; both given, they must agree."""
    path = Path(args.card) if args.card else Path(args.file).with_name("card.json")
    if not path.exists():
        raise ConfigError(
            "--card",
            f"no card at {path}: a card declares where each ONNX input comes from "
            "(see docs/bring-your-ranker.md)",
        )
    card = _json_file(path, "model card")
    if not isinstance(card, dict):
        raise ConfigError(
            str(path), f"expected a JSON object (the card), got {type(card).__name__}"
        )
    named = card.get("version")
    if args.version is None and not named:
        raise ConfigError("--version", f"the card {path} names no version: give --version")
    if args.version is not None and named and named != args.version:
        raise ConfigError(
            "--version", f"is {args.version!r} but the card {path} names {named!r}: give one"
        )
    card["version"] = args.version or named
    for name in ("parent", "notes", "description"):
        if getattr(args, name) is not None:
            card[name] = getattr(args, name)
    if args.dataset is not None:
        card["dataset"] = dict(card.get("dataset") or {}, id=args.dataset)
    return card


def _existing(file: str, what: str) -> Path:
    path = Path(file)
    if not path.is_file():
        raise ConfigError(file, f"no such file ({what})")
    return path


def models_register(args: argparse.Namespace) -> int:
    model = _existing(args.file, "the ONNX model")
    return _print_json(_client(args).register_model(_model_card(args), model))


def models_regate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason} if args.reason else {}
    if args.dataset:
        body["dataset"] = args.dataset
    return _print_json(
        _client(args).request("POST", f"/v1/models/{_seg(args.version)}/regate", body)
    )


def datasets_create(args: argparse.Namespace) -> int:
    meta: dict[str, Any] = {"id": args.id}
    if args.description is not None:
        meta["description"] = args.description
    if args.reason:
        meta["reason"] = args.reason
    file = _existing(args.file, "the dataset")
    return _print_json(_client(args).create_dataset(meta, file))


def _datasets_table(data: Any) -> str:
    rows = [
        (
            d["id"],
            d["format"],
            d["queries"],
            d["candidates"],
            f"{d['feature_width']} unnamed" if d["features"] is None else len(d["features"]),
            d["sha256"][:12],
            d["created_by"],
        )
        for d in data["datasets"]
    ]
    return out.table(("id", "format", "queries", "candidates", "features", "sha256", "by"), rows)


def gates_policy_set(args: argparse.Namespace) -> int:
    # Imported here: the policy module brings numpy, which no other verb needs (a CLI call's
    # start-up is most of its time).
    from gateway.models.gate_policy import parse_assignments

    body = parse_assignments(args.assignments)
    if args.reason:
        body["reason"] = args.reason
    return _print_json(_client(args).request("PUT", "/v1/gate-policy", body))


def _experiment_file(path: str) -> dict[str, Any]:
    """One experiment, from a JSON file or a TOML file (a single ``[[experiments]]`` table or
    the experiment's fields at the top level)."""
    if path.endswith(".json"):
        data = _json_file(Path(path), "experiment")
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a JSON object, got {type(data).__name__}")
        return data
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(path, "no such file (the experiment, TOML or JSON)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the experiment: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, f"not TOML: {exc}") from None
    experiments = data.get("experiments")
    if isinstance(experiments, list):
        if len(experiments) != 1:
            raise ConfigError(path, f"expected one [[experiments]] table, got {len(experiments)}")
        return dict(experiments[0])
    return data


def _weights(text: str) -> dict[str, float]:
    out_: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out_[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                "--weights", f"expected name=weight,name=weight, got {text!r}"
            ) from None
    return out_


def experiments_traffic(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason}
    if args.coverage is not None:
        body["coverage"] = args.coverage
    if args.weights:
        body["weights"] = _weights(args.weights)
    if len(body) == 1:
        raise ConfigError("traffic", "give --coverage, --weights or both")
    return _print_json(_client(args).request("PATCH", f"/v1/experiments/{_seg(args.key)}", body))


def experiments_list(args: argparse.Namespace) -> int:
    client = _client(args)
    data = client.get("/v1/experiments")
    if args.output == "json":
        return _print_json(data)
    views = [
        client.get(f"/v1/experiments/{_seg(e['key'])}")
        if e.get("status") not in ("draft", "archived")
        else e
        for e in data.get("experiments") or []
    ]
    print(out.experiments_table(views))
    return 0


def experiments_show(args: argparse.Namespace) -> int:
    """Every metric of every arm as a table with the alerts and segments (cli_results,
    cli_segments), or the API's answer (--json)."""
    return _show(args, _client(args).get(f"/v1/experiments/{_seg(args.key)}"), cli_segments.show)


def experiments_segments(args: argparse.Namespace) -> int:
    """One metric by segment (the drill-down), each lift in its metric's unit (read from the
    experiment's evaluation), or the API's answer (--json)."""
    client = _client(args)
    query = {k: v for k, v in (("metric", args.metric), ("dimension", args.dimension)) if v}
    path = f"/v1/experiments/{_seg(args.key)}/segments"
    answer = client.get(f"{path}?{urlencode(query)}" if query else path)
    if args.output == "json":
        return _print_json(answer)
    view = client.get(f"/v1/experiments/{_seg(args.key)}")
    print(cli_segments.drilldown_text(answer, cli_segments.units_of(view)))
    return 0


def segments_set(args: argparse.Namespace) -> int:
    dimensions = (
        None if args.file is None else _json_file(_existing(args.file, "dimensions"), "dimensions")
    )
    body = cli_segments.dimensions_body(args.dimension or (), dimensions, args.reason)
    return _print_json(_client(args).request("PUT", "/v1/segments", body))


def experiments_status(args: argparse.Namespace) -> int:
    """One look at an experiment; the exit code says its outcome (EXIT_CODES)."""
    data = _client(args).get(f"/v1/experiments/{_seg(args.key)}")
    _show(args, data, out.summary)
    return out.outcome_code(data)


def experiments_watch(args: argparse.Namespace) -> int:
    """Redraw one experiment's result every --interval s until it concludes, --timeout s pass
    or --times draws are made; the exit code says its outcome (EXIT_CODES)."""
    client = _client(args)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    draws = 0
    while True:
        data = client.get(f"/v1/experiments/{_seg(args.key)}")
        draws += 1
        if args.output == "json":
            print(json.dumps(data), flush=True)
        else:
            if sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="")  # clear the terminal, cursor home
            print(out.summary(data), flush=True)
        code = out.outcome_code(data)
        if code != out.STILL_RUNNING:
            return code
        if (args.times and draws >= args.times) or (
            deadline is not None and time.monotonic() + args.interval > deadline
        ):
            return code
        time.sleep(args.interval)


def when_option(text: str, option: str) -> float:
    """Epoch seconds, an ISO date or time (UTC unless it says), or an age: 30s, 15m, 2h, 7d."""
    raw = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return float(raw)
    except ValueError:
        pass
    if raw[-1:] in units:
        try:
            return time.time() - float(raw[:-1]) * units[raw[-1]]
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            option, f"expected epoch seconds, an ISO time or an age (15m, 2h, 7d), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def audit(args: argparse.Namespace) -> int:
    query: dict[str, Any] = {"count": args.count}
    for name in ("subject", "actor"):
        if getattr(args, name) is not None:
            query[name] = getattr(args, name)
    for name in ("since", "until"):
        if getattr(args, name) is not None:
            query[name] = f"{when_option(getattr(args, name), '--' + name):.3f}"
    data = _client(args).get("/v1/audit?" + urlencode(query))
    return _show(args, data, lambda d: out.audit_lines(d["entries"]))


def _production_table(data: Any) -> str:
    head = f"production: {data.get('production') or '-'}" + (
        "  (frozen)" if data.get("frozen") else ""
    )
    rows = [
        (out.when(h.get("ts")), h.get("from"), h.get("to"), h.get("actor"), h.get("reason"))
        for h in data.get("history") or []
    ]
    return head + "\n\n" + out.table(("time", "from", "to", "actor", "reason"), rows)


def _shadows_table(data: Any) -> str:
    rows = []
    for s in data.get("shadows") or []:
        extra = {k: v for k, v in s.items() if k not in ("version", "share")}
        rows.append((s.get("version"), s.get("share"), extra or None))
    return out.table(("version", "share", "figures"), rows)


def _tokens_table(data: Any) -> str:
    rows = [
        (t.get("name"), t.get("role"), t.get("created_by"), out.when(t.get("created_at")))
        for t in data.get("tokens") or []
    ]
    return out.table(("name", "role", "created by", "created"), rows)


def _webhooks_table(data: Any) -> str:
    rows = [
        (w.get("name"), w.get("url"), ",".join(w.get("events") or ()), w.get("created_by"))
        for w in data.get("webhooks") or []
    ]
    return out.table(("name", "url", "events", "created by"), rows)


def _deliveries_table(data: Any) -> str:
    rows = [
        (
            out.when(a.get("ts")),
            a.get("type"),
            a.get("delivery"),
            a.get("attempt"),
            a.get("outcome"),
            a.get("status") if a.get("status") is not None else a.get("error"),
            out.when(a.get("next_retry_at")) if a.get("next_retry_at") else "",
        )
        for a in data.get("attempts") or []
    ]
    waiting = len(data.get("waiting") or ())
    return f"{waiting} waiting\n" + out.table(
        ("time", "event", "delivery", "attempt", "outcome", "answer", "next retry"), rows
    )


def _dead_letters_table(data: Any) -> str:
    rows = [
        (out.when(e.get("ts")), e.get("stream"), e.get("entry"), e.get("error"))
        for e in data.get("entries") or []
    ]
    return out.table(("time", "stream", "entry", "error"), rows)


def _policy_table(data: Any) -> str:
    return out.fields(data.get("policy") or data)


def _approvals_table(data: Any) -> str:
    """Pending requests, then the recent decided ones."""

    def rows(items: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (
                r.get("id"),
                r.get("status"),
                r.get("summary"),
                r.get("requested_by"),
                out.when(r.get("requested_at")),
                r.get("decided_by"),
                r.get("reason"),
            )
            for r in items
        ]

    head = ("id", "status", "change", "asked by", "asked", "decided by", "reason")
    pending, recent = data.get("pending") or [], data.get("recent") or []
    parts = [f"pending: {len(pending)}"]
    if pending:
        parts.append(out.table(head, rows(pending)))
    if recent:
        parts.append("recent:\n" + out.table(head, rows(recent)))
    return "\n\n".join(parts)


_FLAGS = {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}


def _policy_value(key: str, text: str) -> Any:
    """A ``key=value`` word of ``approval-policy set`` as its JSON value."""
    lowered = text.lower()
    if key in ("production", "gate_override", "decision_loop"):
        if lowered not in _FLAGS:
            raise ConfigError(key, f"expected true or false, got {text!r}")
        return _FLAGS[lowered]
    if key == "coverage_above" and lowered in ("null", "none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        return text  # the gateway names the field and the value


def approval_policy_set(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    for pair in args.assignments:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(pair, "expected key=value")
        body[key] = _policy_value(key, text)
    if args.reason:
        body["reason"] = args.reason
    return _print_json(_client(args).request("PUT", "/v1/approval-policy", body))


# --- the parser ----------------------------------------------------------------------------


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    """An argparse type: a number above zero (a usage error names the option and the value)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
        return value

    return parse


def _common(p: argparse.ArgumentParser, func: Verb, read: bool) -> argparse.ArgumentParser:
    p.add_argument(
        "--url",
        default=None,
        help="the gateway, host:port or http(s)://host:port (default: ABGATE_URL, else "
        "127.0.0.1:ABGATE_PORT); also taken before the command",
    )
    if read:
        p.add_argument(
            "-o",
            "--output",
            choices=("table", "json"),
            default="table",
            help="table for a person (default), or json: the API's answer as it is",
        )
        p.add_argument(
            "--json",
            dest="output",
            action="store_const",
            const="json",
            help="the same as -o json",
        )
    p.set_defaults(func=func)
    return p


def _command(
    parent: Any,
    name: str,
    func: Verb,
    help: str,
    aliases: tuple[str, ...] = (),
    read: bool = False,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(
        name, help=help, description=help, aliases=list(aliases), epilog=epilog
    )
    return _common(p, func, read)


def _group(sub: Any, name: str, help: str) -> Any:
    p = sub.add_parser(name, help=help, description=help)
    return p.add_subparsers(dest="verb", required=True, metavar="VERB", title="verbs")


def add_admin_commands(sub: Any) -> None:
    _models(_group(sub, "models", "the model registry: register, list, show, retire, ..."))
    _datasets(_group(sub, "datasets", "evaluation datasets: create, list, show, from-traffic"))
    _gates(
        _group(sub, "gates", "the gates' policy: view and change it (abgate gates policy --help)")
    )
    _experiments(_group(sub, "experiments", "experiments: list, show, status, create, start, ..."))
    _production(_group(sub, "production", "the production version: show, set, rollback"))
    _shadow(_group(sub, "shadow", "shadow versions: list (with agreement), set, stop"))
    _segments(_group(sub, "segments", "the dimensions results are broken down by: show, set"))
    _holdout(
        _group(sub, "holdout", "the deployment's holdout: show (its cumulative lift), set, end")
    )
    freeze = _command(
        sub,
        "freeze",
        _api("POST", lambda a: "/v1/freeze", lambda a: {"reason": a.reason}),
        "pause every running experiment; everyone gets production",
    )
    freeze.add_argument("--reason", required=True, help="why (audited)")
    unfreeze = _command(
        sub,
        "unfreeze",
        _api(
            "DELETE",
            lambda a: "/v1/freeze",
            lambda a: {"reason": a.reason} if a.reason else None,
        ),
        "lift the freeze: the experiments it paused resume",
    )
    unfreeze.add_argument("--reason", default="", help="why (audited)")
    _command(
        sub,
        "whoami",
        _read(lambda a: "/v1/whoami", out.fields),
        "the caller's name and role",
        read=True,
    )
    _tokens(_group(sub, "tokens", "access tokens (admin): list, create, revoke"))
    _approvals(
        _group(sub, "approvals", "changes held for a second admin: list, show, approve, reject")
    )
    _approval_policy(_group(sub, "approval-policy", "which changes need a second admin: show, set"))
    _webhooks(_group(sub, "webhooks", "signed webhooks (admin): list, add, remove, deliveries"))
    dead = _command(
        sub,
        "dead-letters",
        _read(lambda a: f"/v1/dead-letters?count={a.count}", _dead_letters_table),
        "entries the worker could not count (an item not on its search's page, ...), with why",
        read=True,
    )
    dead.add_argument("--count", type=int, default=20, help="the newest this many (default 20)")
    log = _command(
        sub,
        "audit",
        audit,
        "the audit trail, newest first: time, actor, subjects, reason, what changed",
        read=True,
        epilog="TIME is epoch seconds, an ISO time (UTC unless it says) or an age: 15m, 2h, 7d",
    )
    log.add_argument("--count", type=int, default=20, help="at most this many (default 20)")
    log.add_argument(
        "--subject",
        help="only entries about this: experiment:KEY, model:VERSION, production, freeze, "
        "shadow:VERSION, dataset:ID, gate-policy, token:NAME, approval:ID, approval-policy, "
        "segments, route:METHOD PATH; or a prefix ending in ':' (experiment:)",
    )
    log.add_argument("--actor", help="only changes by this token's name")
    log.add_argument("--since", metavar="TIME", help="only entries at or after TIME")
    log.add_argument("--until", metavar="TIME", help="only entries at or before TIME")


def _models(msub: Any) -> None:
    reg = _command(msub, "register", models_register, "register an ONNX file; gates run next")
    reg.add_argument("file", help="the ONNX file")
    reg.add_argument("--version", help="the version id (default: the card's)")
    reg.add_argument("--card", help="card JSON (default: card.json beside the file)")
    reg.add_argument("--parent", help="the version it derives from (sets the card's parent)")
    reg.add_argument(
        "--dataset",
        help="a registered dataset its gates run on (the card's dataset.id; default: the "
        "gate policy's, else the configured file)",
    )
    reg.add_argument("--notes", help="free text kept on the card")
    reg.add_argument("--description", help="what the version is, kept on the card")
    _command(
        msub,
        "list",
        _read(lambda a: "/v1/models", out.models_table),
        "every version: state, gates, in use by",
        read=True,
    )
    show = _command(
        msub,
        "show",
        _read(lambda a: f"/v1/models/{_seg(a.version)}", out.fields),
        "one version's card and gates",
        ("get",),
        read=True,
    )
    show.add_argument("version", help="the version id")
    retire = _command(
        msub,
        "retire",
        _api("DELETE", lambda a: f"/v1/models/{_seg(a.version)}", lambda a: {"reason": a.reason}),
        "unload a version everywhere (kept on disk)",
    )
    retire.add_argument("version", help="the version id")
    retire.add_argument("--reason", default="", help="why (audited)")
    over = _command(
        msub,
        "override",
        _api(
            "POST",
            lambda a: f"/v1/models/{_seg(a.version)}/override",
            lambda a: {"reason": a.reason},
        ),
        "let a version whose gates failed take traffic (audited)",
    )
    over.add_argument("version", help="the version id")
    over.add_argument("--reason", required=True, help="why (audited)")
    regate = _command(
        msub, "regate", models_regate, "run a version's gates again, on a dataset it can read"
    )
    regate.add_argument("version", help="the version id")
    regate.add_argument(
        "--dataset",
        help="a registered dataset (default: the card's, else the gate policy's, else the file)",
    )
    regate.add_argument("--reason", default="", help="why (audited)")


def _datasets(dsub: Any) -> None:
    dnew = _command(dsub, "create", datasets_create, "register a JSON lines or Parquet file")
    dnew.add_argument("file", help="the JSON lines or Parquet file")
    dnew.add_argument("--id", required=True, help="the dataset's id (immutable)")
    dnew.add_argument("--description", help="what the dataset holds")
    dnew.add_argument("--reason", default="", help="why (audited)")
    _command(
        dsub,
        "list",
        _read(lambda a: "/v1/datasets", _datasets_table),
        "every dataset: sizes, features, sha256",
        read=True,
    )
    dshow = _command(
        dsub,
        "show",
        _read(lambda a: f"/v1/datasets/{_seg(a.id)}", out.fields),
        "one dataset",
        ("get",),
        read=True,
    )
    dshow.add_argument("id", help="the dataset's id")
    built = _command(
        dsub,
        "from-traffic",
        _api(
            "POST",
            lambda a: "/v1/datasets/from-traffic",
            lambda a: {
                "id": a.id,
                "hours": a.hours,
                "max_searches": a.max_searches,
                "with_unlabelled": a.with_unlabelled,
                "features": a.features.split(",") if a.features else None,
                "description": a.description,
                "reason": a.reason,
            },
        ),
        "build a dataset from logged searches (feature logging) graded by their outcomes",
    )
    built.add_argument("--id", required=True, help="the dataset's id (immutable)")
    built.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    built.add_argument(
        "--max-searches", type=int, default=10_000, help="the most recent kept (default 10 000)"
    )
    built.add_argument(
        "--with-unlabelled", action="store_true", help="keep searches no outcome touched"
    )
    built.add_argument(
        "--features", help="name,name,...: the feature set (default: the latest search's)"
    )
    built.add_argument("--description", default="", help="what the dataset holds")
    built.add_argument("--reason", default="", help="why (audited)")


def _gates(gsub: Any) -> None:
    show_policy = _read(lambda a: "/v1/gate-policy", _policy_table)
    policy = _command(gsub, "policy", show_policy, "the gates' thresholds (show, set)", read=True)
    psub = policy.add_subparsers(dest="action", metavar="ACTION", title="actions")
    _command(psub, "show", show_policy, "the policy in force", read=True)
    pchange = _command(
        psub,
        "set",
        gates_policy_set,
        "change fields, e.g. latency_budget_ms=80 latency_ratio=off dataset=heldout-q4 (audited)",
    )
    pchange.add_argument("assignments", nargs="+", metavar="key=value", help="the fields to change")
    pchange.add_argument("--reason", default="", help="why (audited)")


def _experiments(esub: Any) -> None:
    _command(
        esub,
        "list",
        experiments_list,
        "every experiment: key, kind, status, primary metric, lift so far, users, started",
        read=True,
    )
    show = _command(
        esub,
        "show",
        experiments_show,
        "one experiment's results: every metric of every arm, time to decision, health",
        ("get",),
        read=True,
    )
    show.add_argument("key", help="the experiment's key")
    drill = _command(
        esub,
        "segments",
        experiments_segments,
        "one metric by segment: users, values and lift per segment, how far it differs from the "
        "rest of its dimension, the alerts",
        read=True,
    )
    drill.add_argument("key", help="the experiment's key")
    drill.add_argument("--metric", help="a catalogue metric (default: the primary metric)")
    drill.add_argument("--dimension", help="one dimension (default: every declared one)")
    status = _command(
        esub,
        "status",
        experiments_status,
        "one look at an experiment; the exit code says its outcome",
        read=True,
        epilog=out.EXIT_CODES,
    )
    status.add_argument("key", help="the experiment's key")
    traffic = _command(
        esub,
        "traffic",
        experiments_traffic,
        "change a running experiment's coverage or weights (audited)",
        ("ramp",),
    )
    traffic.add_argument("key", help="the experiment's key")
    traffic.add_argument("--coverage", type=float, help="the share of users in the experiment")
    traffic.add_argument("--weights", help="name=weight,name=weight (starts a new phase)")
    traffic.add_argument("--reason", required=True, help="why (audited)")
    watch = _command(
        esub,
        "watch",
        experiments_watch,
        "redraw the live result until the experiment concludes; the exit code says its outcome",
        read=True,
        epilog=out.EXIT_CODES,
    )
    watch.add_argument("key", help="the experiment's key")
    watch.add_argument(
        "--interval",
        type=_positive(float),
        default=2.0,
        help="seconds between draws (default 2)",
    )
    watch.add_argument(
        "--timeout",
        type=_positive(float),
        help="give up (exit 5) after this many seconds still running",
    )
    watch.add_argument(
        "--times", type=_positive(int), default=0, help="give up (exit 5) after this many draws"
    )
    create = _command(
        esub,
        "create",
        _api("POST", lambda a: "/v1/experiments", lambda a: _experiment_file(a.file)),
        "create a draft from a TOML or JSON file",
    )
    create.add_argument("file", help="the experiment: TOML (one [[experiments]] table) or JSON")
    for verb, help, needs_reason in (
        ("start", "start a draft", False),
        ("pause", "pause a running experiment: everyone gets production meanwhile", True),
        ("resume", "resume a paused experiment", True),
        ("stop", "stop a running experiment (concludes it)", True),
        ("archive", "archive a draft or concluded experiment", False),
        ("promote", "make a variant production and conclude", True),
    ):

        def run(a: argparse.Namespace, verb: str = verb) -> int:
            body: dict[str, Any] = {"reason": a.reason} if a.reason else {}
            if verb == "promote" and a.variant:
                body["variant"] = a.variant
            if verb == "start" and a.ignore_missing_features:
                body["ignore_missing_features"] = True
            return _print_json(
                _client(a).request("POST", f"/v1/experiments/{_seg(a.key)}/{verb}", body)
            )

        p = _command(esub, verb, run, help)
        p.add_argument("key", help="the experiment's key")
        p.add_argument("--reason", required=needs_reason, default="", help="why (audited)")
        if verb == "promote":
            p.add_argument("--variant", help="the arm to promote (default: the one treatment)")
        if verb == "start":
            p.add_argument(
                "--ignore-missing-features",
                action="store_true",
                help="start although a version reads features recent searches lack (give --reason)",
            )


def _production(psub: Any) -> None:
    _command(
        psub,
        "show",
        _read(lambda a: "/v1/production", _production_table),
        "production and its history",
        ("get",),
        read=True,
    )
    pset = _command(
        psub,
        "set",
        _api(
            "PUT", lambda a: "/v1/production", lambda a: {"version": a.version, "reason": a.reason}
        ),
        "make a version production",
    )
    pset.add_argument("version", help="the version id")
    pset.add_argument("--reason", required=True, help="why (audited)")
    back = _command(
        psub,
        "rollback",
        _api(
            "POST",
            lambda a: "/v1/production/rollback",
            lambda a: {"reason": a.reason} | ({"to": a.to} if a.to else {}),
        ),
        "back to an earlier production (default: the previous one)",
    )
    back.add_argument("--to", help="a version that was production before (see production show)")
    back.add_argument("--reason", required=True, help="why (audited)")


def _shadow(ssub: Any) -> None:
    _command(
        ssub,
        "list",
        _read(lambda a: "/v1/shadow", _shadows_table),
        "shadow versions and their figures",
        read=True,
    )
    sset = _command(
        ssub,
        "set",
        _api(
            "PUT",
            lambda a: f"/v1/shadow/{_seg(a.version)}",
            lambda a: {"share": a.share} | ({"reason": a.reason} if a.reason else {}),
        ),
        "score a share of production's searches with a version too",
    )
    sset.add_argument("version", help="the version id")
    sset.add_argument("--share", type=float, required=True, help="the share of searches, (0, 1]")
    sset.add_argument("--reason", default="", help="why (audited)")
    sstop = _command(
        ssub,
        "stop",
        _api("DELETE", lambda a: f"/v1/shadow/{_seg(a.version)}"),
        "stop shadowing a version",
    )
    sstop.add_argument("version", help="the version id")


def _segments(ssub: Any) -> None:
    _command(
        ssub,
        "show",
        _read(lambda a: "/v1/segments", cli_segments.dimensions_table),
        "the declared dimensions: name, source, values kept (the rest count as other)",
        ("get",),
        read=True,
    )
    sset = _command(
        ssub,
        "set",
        segments_set,
        "declare the dimensions (all of them: the list replaces the one in force; audited); "
        "users first exposed after it are counted by them",
    )
    sset.add_argument(
        "--dimension",
        action="append",
        metavar="NAME[=SOURCE][:V1,V2,...]",
        help="a dimension, repeatable: device=context.device:mobile,desktop,tablet (a search "
        "context field and the values kept; the source defaults to context.NAME), "
        "shopper=shopper (new / returning), query_class=query_class (head / torso / tail)",
    )
    sset.add_argument(
        "--file",
        help="a JSON list of {name, source, values} instead of --dimension ([] declares none)",
    )
    sset.add_argument("--reason", required=True, help="why (audited)")


def _holdout(hsub: Any) -> None:
    _command(
        hsub,
        "show",
        _read(lambda a: "/v1/holdout", cli_holdout.holdout_text),
        "the holdout and its cumulative lift since it began",
        read=True,
    )
    hset = _command(
        hsub,
        "set",
        _api(
            "PUT",
            lambda a: "/v1/holdout",
            lambda a: (
                {"version": a.version, "share": a.share, "reason": a.reason}
                | ({"window_s": a.window_days * 86_400.0} if a.window_days is not None else {})
                | ({"seed": a.seed} if a.seed else {})
            ),
        ),
        "begin a holdout: a share of users kept on a baseline version",
    )
    hset.add_argument("version", help="the frozen baseline (a ready version)")
    hset.add_argument("--share", type=float, required=True, help="of all users, (0, 0.2]")
    hset.add_argument("--window-days", type=float, default=None, help="it ends after this long")
    hset.add_argument("--seed", default="", help="hash seed (default: its stats id)")
    hset.add_argument("--reason", required=True, help="why (audited)")
    hend = _command(
        hsub,
        "end",
        _api("DELETE", lambda a: "/v1/holdout", lambda a: {"reason": a.reason}),
        "end the holdout: its users are routed as everyone else; its report stays",
    )
    hend.add_argument("--reason", required=True, help="why (audited)")


def _webhooks(wsub: Any) -> None:
    _command(
        wsub,
        "list",
        _read(lambda a: "/v1/webhooks", _webhooks_table),
        "endpoints and what they receive (never their secrets)",
        read=True,
    )
    add = _command(
        wsub,
        "add",
        _api(
            "POST",
            lambda a: "/v1/webhooks",
            lambda a: (
                {"name": a.name, "url": a.endpoint, "events": a.events}
                | ({"secret": a.secret} if a.secret else {})
                | ({"reason": a.reason} if a.reason else {})
            ),
        ),
        "register an endpoint; without --secret one is generated and printed once",
    )
    add.add_argument("name", help="the endpoint's name")
    # not dest "url": that is the gateway's address (--url), which the call goes to
    add.add_argument(
        "endpoint", metavar="URL", help="http:// or https:// address that receives the POSTs"
    )
    add.add_argument(
        "--events",
        nargs="+",
        default=["*"],
        metavar="TYPE",
        choices=["*", *EVENT_TYPES],
        help=f"event types: {', '.join(EVENT_TYPES)}; or * (default) for every one",
    )
    add.add_argument("--secret", default="", help="the signing key (default: generated)")
    add.add_argument("--reason", default="", help="why (audited)")
    remove = _command(
        wsub,
        "remove",
        _api(
            "DELETE",
            lambda a: f"/v1/webhooks/{_seg(a.name)}",
            lambda a: {"reason": a.reason} if a.reason else {},
        ),
        "remove an endpoint (its waiting deliveries are dropped)",
    )
    remove.add_argument("name", help="the endpoint's name")
    remove.add_argument("--reason", default="", help="why (audited)")
    log = _command(
        wsub,
        "deliveries",
        _read(
            lambda a: f"/v1/webhooks/{_seg(a.name)}/deliveries?count={a.count}", _deliveries_table
        ),
        "an endpoint's delivery log, newest first: each attempt's answer or error",
        read=True,
    )
    log.add_argument("name", help="the endpoint's name")
    log.add_argument("--count", type=int, default=20, help="the newest this many (default 20)")


def _tokens(tsub: Any) -> None:
    _command(
        tsub, "list", _read(lambda a: "/v1/tokens", _tokens_table), "names and roles", read=True
    )
    tnew = _command(
        tsub,
        "create",
        _api(
            "POST",
            lambda a: "/v1/tokens",
            lambda a: {"name": a.name, "role": a.role} | ({"reason": a.reason} if a.reason else {}),
        ),
        "a token for a person or tool, printed once",
    )
    tnew.add_argument("name", help="whose token (the audit trail's actor)")
    tnew.add_argument(
        "--role", required=True, choices=[r.label for r in Role], help="what it may do"
    )
    tnew.add_argument("--reason", default="", help="why (audited)")
    trevoke = _command(
        tsub,
        "revoke",
        _api(
            "DELETE",
            lambda a: f"/v1/tokens/{_seg(a.name)}",
            lambda a: {"reason": a.reason} if a.reason else {},
        ),
        "revoke a token (within a second everywhere; its name is never given again)",
    )
    trevoke.add_argument("name", help="the token's name")
    trevoke.add_argument("--reason", default="", help="why (audited)")


def _approvals(asub: Any) -> None:
    _command(
        asub,
        "list",
        _read(lambda a: "/v1/approvals", _approvals_table),
        "pending requests, then the recent decided ones",
        read=True,
    )
    show = _command(
        asub,
        "show",
        _read(lambda a: f"/v1/approvals/{_seg(a.id)}", out.fields),
        "one request: what it would do, who asked, what became of it",
        read=True,
    )
    show.add_argument("id", help="the request's id")
    approve = _command(
        asub,
        "approve",
        _api(
            "POST",
            lambda a: f"/v1/approvals/{_seg(a.id)}/approve",
            lambda a: {"reason": a.reason} if a.reason else None,
        ),
        "approve a request (not your own) and make its change now",
    )
    approve.add_argument("id", help="the request's id")
    approve.add_argument("--reason", default="", help="why (audited)")
    reject = _command(
        asub,
        "reject",
        _api(
            "POST",
            lambda a: f"/v1/approvals/{_seg(a.id)}/reject",
            lambda a: {"reason": a.reason},
        ),
        "reject a request (or withdraw your own); nothing changes",
    )
    reject.add_argument("id", help="the request's id")
    reject.add_argument("--reason", required=True, help="why (audited)")


def _approval_policy(psub: Any) -> None:
    _command(
        psub,
        "show",
        _read(lambda a: "/v1/approval-policy", _policy_table),
        "the policy in force",
        ("get",),
        read=True,
    )
    pset = _command(
        psub,
        "set",
        approval_policy_set,
        "change fields, e.g. production=true coverage_above=0.5 decision_loop=true "
        "expires_after_s=86400 (audited; loosening a policy in force waits for a second admin)",
    )
    pset.add_argument("assignments", nargs="+", metavar="key=value", help="the fields to change")
    pset.add_argument("--reason", default="", help="why (audited)")
