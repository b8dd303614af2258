"""The admin verbs of ``abgate``: models, experiments, production, freeze. Each is one call of
the admin API (:mod:`gateway.client`); the gateway's answer is printed as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.client import AdminClient
from gateway.errors import ConfigError
from gateway.settings import Settings


def default_url() -> str:
    host = os.environ.get("ABGATE_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('ABGATE_PORT', '8080')}"


def _client(args: argparse.Namespace) -> AdminClient:
    return AdminClient(args.url, Settings.from_env().admin_token, os.environ.get("ABGATE_ACTOR"))


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
            "(see README, 'Bring your own ranker')",
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


def add_admin_commands(sub: Any) -> None:
    def command(parent: Any, name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help)
        p.add_argument(
            "--url", default=default_url(), help="the gateway (default from ABGATE_PORT)"
        )
        p.set_defaults(func=func)
        return p

    models = sub.add_parser("models", help="the model registry: register, list, show, retire")
    msub = models.add_subparsers(dest="verb", required=True)
    reg = command(msub, "register", models_register, "register an ONNX file; gates run next")
    reg.add_argument("file")
    reg.add_argument("--version", required=True)
    reg.add_argument("--card", help="card JSON (default: card.json beside the file)")
    reg.add_argument("--parent")
    reg.add_argument("--dataset", help="id of the data it was trained on")
    reg.add_argument("--notes")
    reg.add_argument("--description")
    command(msub, "list", models_list, "every version, its state and where it is loaded")
    show = command(msub, "show", _api("GET", lambda a: f"/v1/models/{a.version}"), "a card")
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

    exps = sub.add_parser("experiments", help="experiments: list, show, create, start, stop, ...")
    esub = exps.add_subparsers(dest="verb", required=True)
    command(esub, "list", _api("GET", lambda a: "/v1/experiments"), "the routing config")
    show = command(
        esub,
        "show",
        _api("GET", lambda a: f"/v1/experiments/{a.key}"),
        "one, with results",
    )
    show.add_argument("key")
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
            return _print(_client(a).request("POST", f"/v1/experiments/{a.key}/{verb}", body))

        p = command(esub, verb, run, help)
        p.add_argument("key")
        p.add_argument("--reason", required=needs_reason, default="")
        if verb == "promote":
            p.add_argument("--variant", help="default: the one treatment")

    prod = sub.add_parser("production", help="the production version: show, set, rollback")
    psub = prod.add_subparsers(dest="verb", required=True)
    command(psub, "show", _api("GET", lambda a: "/v1/production"), "and its history")
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
