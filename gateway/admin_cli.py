"""The admin verbs of ``abgate``: models, datasets, gates, experiments, production, freeze. Each
is one call of the admin API (:mod:`gateway.client`); the gateway's answer is printed as JSON,
except for ``experiments watch``, ``datasets list`` and ``audit``, which print for a terminal
unless given ``--json``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.access.roles import Role
from gateway.client import AdminClient
from gateway.errors import ConfigError
from gateway.models.gate_policy import parse_assignments


def default_url() -> str:
    """ABGATE_URL, else the local gateway on ABGATE_PORT."""
    if os.environ.get("ABGATE_URL"):
        return os.environ["ABGATE_URL"].rstrip("/")
    host = os.environ.get("ABGATE_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('ABGATE_PORT', '8080')}"


def caller_token() -> str | None:
    """The caller's own token (ABGATE_TOKEN), else the deployment's admin token: the audit
    trail names the token's owner as the actor of every change."""
    return os.environ.get("ABGATE_TOKEN") or os.environ.get("ABGATE_ADMIN_TOKEN") or None


def _client(args: argparse.Namespace) -> AdminClient:
    return AdminClient(args.url, caller_token())


def _print(data: Any) -> int:
    json.dump(data, sys.stdout, indent=2)
    print()
    return 0


def _api(
    method: str,
    path: Callable[[argparse.Namespace], str],
    body: Callable[[argparse.Namespace], Any] | None = None,
) -> Callable[[argparse.Namespace], int]:
    """A verb that is one API call: its answer printed as JSON."""

    def run(a: argparse.Namespace) -> int:
        return _print(_client(a).request(method, path(a), None if body is None else body(a)))

    return run


def _model_card(args: argparse.Namespace) -> dict[str, Any]:
    """The card: --card, else card.json beside the file; the flags override its fields."""
    path = Path(args.card) if args.card else Path(args.file).with_name("card.json")
    if not path.exists():
        raise ConfigError(
            "--card",
            f"no card at {path}: a card declares where each ONNX input comes from "
            "(see docs/bring-your-ranker.md)",
        )
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), f"unreadable card: {exc}") from None
    card["version"] = args.version
    for name in ("parent", "notes", "description"):
        if getattr(args, name) is not None:
            card[name] = getattr(args, name)
    if args.dataset is not None:
        card["dataset"] = dict(card.get("dataset") or {}, id=args.dataset)
    return card


def models_register(args: argparse.Namespace) -> int:
    return _print(_client(args).register_model(_model_card(args), Path(args.file)))


def models_list(args: argparse.Namespace) -> int:
    data = _client(args).get("/v1/models")
    for card in data["models"]:
        gates = card.get("gates") or {}
        failed = [r["gate"] for r in gates.get("results", []) if not r["passed"]]
        flag = " (production)" if card["version"] == data["production"] else ""
        state = "retired" if card["retired"] else card["state"]
        extra = f", failed: {failed}" if failed else ""
        override = ", overridden" if card.get("override") else ""
        print(
            f"{card['version']:<20} {state:<8}{extra}{override}  loaded in "
            f"{len(card['loaded_by'])} process(es){flag}"
        )
    return 0


def models_regate(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason} if args.reason else {}
    if args.dataset:
        body["dataset"] = args.dataset
    return _print(_client(args).request("POST", f"/v1/models/{args.version}/regate", body))


def datasets_create(args: argparse.Namespace) -> int:
    meta: dict[str, Any] = {"id": args.id}
    if args.description is not None:
        meta["description"] = args.description
    if args.reason:
        meta["reason"] = args.reason
    return _print(_client(args).create_dataset(meta, Path(args.file)))


def datasets_list(args: argparse.Namespace) -> int:
    data = _client(args).get("/v1/datasets")
    if args.json:
        return _print(data)
    for d in data["datasets"]:
        features = d["features"]
        named = (
            f"{d['feature_width']} unnamed features"
            if features is None
            else f"{len(features)} features"
        )
        print(
            f"{d['id']:<24} {d['format']:<8} {d['queries']:>6} queries {d['candidates']:>8} "
            f"candidates, {named}  sha256 {d['sha256'][:12]}  by {d['created_by']}"
        )
    return 0


def gates_policy_set(args: argparse.Namespace) -> int:
    body = parse_assignments(args.assignments)
    if args.reason:
        body["reason"] = args.reason
    return _print(_client(args).request("PUT", "/v1/gate-policy", body))


def _experiment_file(path: str) -> dict[str, Any]:
    """One experiment, from a JSON file or a TOML file (a single ``[[experiments]]`` table or
    the experiment's fields at the top level)."""
    text = Path(path).read_text()
    if path.endswith(".json"):
        data: dict[str, Any] = json.loads(text)
        return data
    data = tomllib.loads(text)
    experiments = data.get("experiments")
    if isinstance(experiments, list):
        if len(experiments) != 1:
            raise ConfigError(path, f"expected one [[experiments]] table, got {len(experiments)}")
        return dict(experiments[0])
    return data


def _weights(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                "--weights", f"expected name=weight,name=weight, got {text!r}"
            ) from None
    return out


def experiments_ramp(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason}
    if args.coverage is not None:
        body["coverage"] = args.coverage
    if args.weights:
        body["weights"] = _weights(args.weights)
    if len(body) == 1:
        raise ConfigError("ramp", "give --coverage, --weights or both")
    return _print(_client(args).request("PATCH", f"/v1/experiments/{args.key}", body))


def summary(data: dict[str, Any]) -> str:
    """One experiment's state and latest result, a few lines for a terminal."""
    lines = [
        f"{data['key']}: {data['status']} (outcome {data.get('outcome', 'none')}), "
        f"phase {data.get('phase', 0)}, coverage {data.get('coverage', 1.0):g}",
    ]
    evaluation = data.get("last_evaluation")
    if not evaluation:
        return "\n".join([*lines, "  no evaluation yet"])
    units = evaluation.get("units") or {}
    lines.append(
        f"  {evaluation['metric']}: "
        + ", ".join(f"{arm} {n} units" for arm, n in units.items())
        + f"; SRM p={evaluation.get('srm_p_value') or 1:.3g}"
    )
    interleaved = evaluation.get("interleaving")
    if interleaved:
        lines += _interleaving_lines(interleaved)
    else:
        for arm in evaluation.get("arms", []):
            low, high = arm.get("ci_low"), arm.get("ci_high")
            interval = (
                f"[{low:+.3f}, {high:+.3f}]" if low is not None and high is not None else "[-]"
            )
            p = arm.get("p_adjusted")
            lines.append(
                f"  {arm['variant']}: {'lift' if arm.get('scale') != 'absolute' else 'difference'}"
                f" {arm['estimate']:+.3f} {interval}, p={1.0 if p is None else p:.3g}"
                f"{'  significant' if arm.get('significant') else ''}"
            )
    state = evaluation.get("state") or {}
    if "p_best" in state:
        lines.append("  P(best): " + ", ".join(f"{k} {v:.3f}" for k, v in state["p_best"].items()))
    decision = evaluation["decision"]
    blocked = decision.get("blocked_by") or []
    lines.append(
        f"  decision: {decision['action']}"
        + (f" (blocked by {', '.join(blocked)})" if blocked else "")
        + f": {'; '.join(decision['reasons'])}"
    )
    return "\n".join(lines)


def _interleaving_lines(report: dict[str, Any]) -> list[str]:
    share = report.get("competitive_share")
    lines = [
        f"  {report['searches']} interleaved searches, {report.get('settled', 0)} users settled, "
        f"{report['slots']} slots, competitive "
        + ("-" if share is None else f"{share:.1%}")
        + "; most preferred first: "
        + " > ".join(report["order"])
    ]
    for pair in report["pairs"]:
        lines.append(
            f"  {pair['a']} vs {pair['b']}: {pair['positive']} users prefer {pair['a']}, "
            f"{pair['negative']} {pair['b']} (searches won {pair['won']}-{pair['lost']}), "
            f"p={pair['p_adjusted']:.3g}{'  significant' if pair['significant'] else ''}"
        )
    return lines


def experiments_watch(args: argparse.Namespace) -> int:
    """Redraw one experiment's result every --interval s until it concludes (or --times)."""
    client = _client(args)
    draws = 0
    try:
        while True:
            data = client.request("GET", f"/v1/experiments/{args.key}", None)
            draws += 1
            if args.json:
                print(json.dumps(data), flush=True)
            else:
                if sys.stdout.isatty():
                    print("\x1b[2J\x1b[H", end="")  # clear the terminal, cursor home
                print(summary(data), flush=True)
            if data["status"] != "running" or (args.times and draws >= args.times):
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def audit(args: argparse.Namespace) -> int:
    data = _client(args).request("GET", f"/v1/audit?count={args.count}", None)
    if args.json:
        return _print(data)
    for entry in data["entries"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry.get("ts", 0))))
        print(f"{when}  {entry.get('actor', '?'):<16} {entry.get('reason', '')}")
    return 0


def add_admin_commands(sub: Any) -> None:
    def command(
        parent: Any, name: str, func: Any, help: str, aliases: tuple[str, ...] = ()
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, aliases=list(aliases))
        p.add_argument(
            "--url",
            default=default_url(),
            help="the gateway (default: ABGATE_URL, else 127.0.0.1:ABGATE_PORT)",
        )
        p.add_argument("--json", action="store_true", help="print the API's JSON as it is")
        p.set_defaults(func=func)
        return p

    models = sub.add_parser("models", help="the model registry: register, list, show, retire")
    msub = models.add_subparsers(dest="verb", required=True)
    reg = command(msub, "register", models_register, "register an ONNX file; gates run next")
    reg.add_argument("file")
    reg.add_argument("--version", required=True)
    reg.add_argument("--card", help="card JSON (default: card.json beside the file)")
    reg.add_argument("--parent")
    reg.add_argument(
        "--dataset",
        help="a registered dataset its gates run on (the card's dataset.id; default: the "
        "gate policy's, else the configured file)",
    )
    reg.add_argument("--notes")
    reg.add_argument("--description")
    command(msub, "list", models_list, "every version, its state and where it is loaded")
    show = command(
        msub, "show", _api("GET", lambda a: f"/v1/models/{a.version}"), "a card", ("get",)
    )
    show.add_argument("version")
    retire = command(
        msub,
        "retire",
        _api("DELETE", lambda a: f"/v1/models/{a.version}", lambda a: {"reason": a.reason}),
        "unload a version everywhere (kept on disk)",
    )
    retire.add_argument("version")
    retire.add_argument("--reason", default="")
    over = command(
        msub,
        "override",
        _api("POST", lambda a: f"/v1/models/{a.version}/override", lambda a: {"reason": a.reason}),
        "let a version whose gates failed take traffic (audited)",
    )
    over.add_argument("version")
    over.add_argument("--reason", required=True)
    regate = command(
        msub,
        "regate",
        models_regate,
        "run a version's gates again, on a dataset it can read (audited)",
    )
    regate.add_argument("version")
    regate.add_argument(
        "--dataset",
        help="a registered dataset (default: the card's, else the gate policy's, else the file)",
    )
    regate.add_argument("--reason", default="")

    sets = sub.add_parser("datasets", help="evaluation datasets: create, list, show, from-traffic")
    dsub = sets.add_subparsers(dest="verb", required=True)
    dnew = command(dsub, "create", datasets_create, "register a JSON lines or Parquet file")
    dnew.add_argument("file")
    dnew.add_argument("--id", required=True, help="the dataset's id (immutable)")
    dnew.add_argument("--description")
    dnew.add_argument("--reason", default="")
    command(dsub, "list", datasets_list, "every dataset: sizes, features, sha256")
    dshow = command(
        dsub, "show", _api("GET", lambda a: f"/v1/datasets/{a.id}"), "one dataset", ("get",)
    )
    dshow.add_argument("id")

    built = command(
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
    built.add_argument("--description", default="")
    built.add_argument("--reason", default="", help="written into the audit trail")

    gates = sub.add_parser("gates", help="the gates' policy: show, set")
    gsub = gates.add_subparsers(dest="verb", required=True)
    show_policy = _api("GET", lambda a: "/v1/gate-policy")
    policy = command(gsub, "policy", show_policy, "the gates' thresholds (show, set)")
    psub = policy.add_subparsers(dest="action")
    command(psub, "show", show_policy, "the policy in force")
    pchange = command(
        psub,
        "set",
        gates_policy_set,
        "change fields, e.g. latency_budget_ms=80 latency_ratio=off dataset=heldout-q4 (audited)",
    )
    pchange.add_argument("assignments", nargs="+", metavar="key=value")
    pchange.add_argument("--reason", default="")

    exps = sub.add_parser("experiments", help="experiments: list, show, create, start, stop, ...")
    esub = exps.add_subparsers(dest="verb", required=True)
    command(esub, "list", _api("GET", lambda a: "/v1/experiments"), "the routing config")
    show = command(
        esub,
        "show",
        _api("GET", lambda a: f"/v1/experiments/{a.key}"),
        "one, with results",
        ("get",),
    )
    show.add_argument("key")
    ramp = command(esub, "ramp", experiments_ramp, "change coverage or weights (audited)")
    ramp.add_argument("key")
    ramp.add_argument("--coverage", type=float)
    ramp.add_argument("--weights", help="name=weight,name=weight (starts a new phase)")
    ramp.add_argument("--reason", required=True)
    watch = command(esub, "watch", experiments_watch, "redraw the live result until it concludes")
    watch.add_argument("key")
    watch.add_argument("--interval", type=float, default=2.0)
    watch.add_argument("--times", type=int, default=0, help="stop after this many draws")
    create = command(
        esub,
        "create",
        _api("POST", lambda a: "/v1/experiments", lambda a: _experiment_file(a.file)),
        "create a draft from a TOML or JSON file",
    )
    create.add_argument("file")
    for verb, help, needs_reason in (
        ("start", "start a draft", False),
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
            return _print(_client(a).request("POST", f"/v1/experiments/{a.key}/{verb}", body))

        p = command(esub, verb, run, help)
        p.add_argument("key")
        p.add_argument("--reason", required=needs_reason, default="")
        if verb == "promote":
            p.add_argument("--variant", help="default: the one treatment")
        if verb == "start":
            p.add_argument(
                "--ignore-missing-features",
                action="store_true",
                help="start although a version reads features recent searches lack (give --reason)",
            )

    prod = sub.add_parser("production", help="the production version: show, set, rollback")
    psub = prod.add_subparsers(dest="verb", required=True)
    command(psub, "show", _api("GET", lambda a: "/v1/production"), "and its history", ("get",))
    pset = command(
        psub,
        "set",
        _api(
            "PUT", lambda a: "/v1/production", lambda a: {"version": a.version, "reason": a.reason}
        ),
        "make a version production",
    )
    pset.add_argument("version")
    pset.add_argument("--reason", required=True)
    back = command(
        psub,
        "rollback",
        _api("POST", lambda a: "/v1/production/rollback", lambda a: {"reason": a.reason}),
        "back to the previous production",
    )
    back.add_argument("--reason", required=True)

    shadow = sub.add_parser("shadow", help="shadow versions: list (with agreement), set, stop")
    ssub = shadow.add_subparsers(dest="verb", required=True)
    command(ssub, "list", _api("GET", lambda a: "/v1/shadow"), "and their figures")
    sset = command(
        ssub,
        "set",
        _api(
            "PUT",
            lambda a: f"/v1/shadow/{a.version}",
            lambda a: {"share": a.share, "reason": a.reason},
        ),
        "score a share of production's searches with a version too",
    )
    sset.add_argument("version")
    sset.add_argument("--share", type=float, required=True)
    sset.add_argument("--reason", default="")
    sstop = command(
        ssub,
        "stop",
        _api("DELETE", lambda a: f"/v1/shadow/{a.version}"),
        "stop shadowing a version",
    )
    sstop.add_argument("version")

    freeze = command(
        sub,
        "freeze",
        _api("POST", lambda a: "/v1/freeze", lambda a: {"reason": a.reason}),
        "stop every running experiment; everyone gets production",
    )
    freeze.add_argument("--reason", required=True)
    command(
        sub,
        "unfreeze",
        _api("DELETE", lambda a: "/v1/freeze"),
        "let experiments start again",
    )
    command(sub, "whoami", _api("GET", lambda a: "/v1/whoami"), "the caller's name and role")
    tokens = sub.add_parser("tokens", help="access tokens (admin): list, create, revoke")
    tsub = tokens.add_subparsers(dest="verb", required=True)
    command(tsub, "list", _api("GET", lambda a: "/v1/tokens"), "names and roles")
    tnew = command(
        tsub,
        "create",
        _api(
            "POST",
            lambda a: "/v1/tokens",
            lambda a: {"name": a.name, "role": a.role} | ({"reason": a.reason} if a.reason else {}),
        ),
        "a token for a person or tool, printed once",
    )
    tnew.add_argument("name")
    tnew.add_argument("--role", required=True, choices=[r.label for r in Role])
    tnew.add_argument("--reason", default="")
    trevoke = command(
        tsub,
        "revoke",
        _api(
            "DELETE",
            lambda a: f"/v1/tokens/{a.name}",
            lambda a: {"reason": a.reason} if a.reason else {},
        ),
        "revoke a token (within a second everywhere; its name is never given again)",
    )
    trevoke.add_argument("name")
    trevoke.add_argument("--reason", default="")
    dead = command(
        sub,
        "dead-letters",
        _api("GET", lambda a: f"/v1/dead-letters?count={a.count}"),
        "entries the worker could not count (an item not on its search's page, ...), with why",
    )
    dead.add_argument("--count", type=int, default=20)
    log = command(sub, "audit", audit, "the audit trail, newest first")
    log.add_argument("--count", type=int, default=20)
