"""The CLI without a gateway: its terminal summary of an experiment (A/B and interleaved), its
tables and exit codes, its parser (help on everything, read verbs with -o), and every user
error as a real process: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import cli_output as out
from gateway.admin_cli import _model_card, base_url, summary
from gateway.cli import build_parser
from gateway.config import parse_routing
from gateway.config.encode import experiment_to_dict
from gateway.errors import ConfigError
from gateway.interleave.decide import parse_sums
from gateway.records import ArmResult, DecisionRecord, Estimate, EvaluationRecord
from gateway.redis_server import free_port
from gateway.settings import ROOT
from gateway.worker.interleaving import evaluate_interleaving


def test_an_ab_summary_shows_each_arm() -> None:
    record = EvaluationRecord(
        "better", 0.0, "purchase_conversion", 0.05, 60.0,
        DecisionRecord("continue", None, ("waiting",)),
        units={"control": 500, "candidate": 510}, srm_p_value=0.7,
        arms=(ArmResult("candidate", 510, True, Estimate(0.12, 0.02, 0.25, 0.01), 0.01, None, True),),
    )  # fmt: skip
    text = summary({"key": "better", "status": "running", "last_evaluation": record.to_json()})
    assert "candidate: lift +12.0 % [+2.0, +25.0], p=0.01  significant" in text
    assert "decision: continue: waiting" in text
    paused = summary({"key": "better", "status": "paused", "paused_at": 60.0, "paused_s": 30.0})
    assert paused.splitlines()[1:] == [
        "  paused since 1970-01-01 00:01:00 UTC: everyone gets production (paused 30 s in all "
        "before)",
        "  no evaluation yet",
    ]


def test_an_interleaved_summary_shows_the_pairs_and_the_order() -> None:
    config = parse_routing(
        {
            "production": "prod-v1",
            "experiments": [
                {
                    "key": "il",
                    "kind": "interleaving",
                    "min_runtime_s": 0,
                    "variants": [
                        {"name": "production", "model_version": "prod-v1"},
                        {"name": "candidate", "model_version": "cand-v2"},
                    ],
                }
            ],
        }
    )
    (il,) = config.experiments
    sums = parse_sums(
        2, {"searches": 20, "slots": 200, "competitive": 150, "0-1:pos": 0, "0-1:neg": 10,
            "0-1:won": 3, "0-1:lost": 12}
    )  # fmt: skip
    record = evaluate_interleaving(il, sums, 25, 30.0)
    text = summary(experiment_to_dict(il) | {"last_evaluation": record.to_json()})
    assert "20 interleaved searches, 0 users settled, 200 slots, competitive 75.0%" in text
    assert "most preferred first: candidate > production" in text
    assert "production vs candidate: 0 users prefer production, 10 candidate" in text
    assert "(searches won 3-12), p=0.0107  significant" in text
    assert "decision: promote: users prefer candidate" in text


# --- the parser: help on everything, nothing hidden shows ----------------------------------


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                yield from _parsers(child)


def test_every_option_and_subcommand_of_every_command_has_help() -> None:
    parser = build_parser()
    missing = []
    for p in _parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {a.dest for a in action._choices_actions}
                missing += [f"{p.prog} {a.dest}" for a in action._choices_actions if not a.help]
                unlisted = {n for n, c in action.choices.items() if n not in listed}
                unlisted -= {alias for a in action._choices_actions for alias in _aliases(a)}
                missing += [f"{p.prog} {n} (unlisted)" for n in unlisted if n not in INTERNAL]
                missing += [f"{p.prog} {n}" for n in unlisted if not action.choices[n].description]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{p.prog} {action.dest}")
    assert not missing, missing
    assert sum(1 for _ in _parsers(parser)) > 50


def test_the_help_lists_the_public_commands_and_no_suppressed_one() -> None:
    text = build_parser().format_help()
    assert "==SUPPRESS==" not in text and "{" not in text
    for command in ("run", "serve", "models", "experiments", "audit", "dead-letters"):
        assert f"\n    {command}" in text
    for hidden in HIDDEN:
        assert hidden not in text
    watch = _subparser(build_parser(), "experiments", "watch").format_help()
    assert "0 promoted; 3 rolled back; 4 stopped" in watch and "5 still running" in watch


def test_the_url_may_come_before_the_command_and_the_verbs_own_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway import admin_cli

    monkeypatch.delenv("ABGATE_URL", raising=False)
    monkeypatch.setenv("ABGATE_PORT", "9999")
    seen = []
    monkeypatch.setattr(admin_cli, "AdminClient", lambda url, token: seen.append(url))
    for argv in (
        ["--url", "h:1", "whoami"],
        ["whoami", "--url", "h:2"],
        ["--url", "h:1", "whoami", "--url", "h:2"],
        ["whoami"],
    ):
        args = build_parser().parse_args(argv)
        admin_cli._client(args)
    assert seen == ["http://h:1", "http://h:2", "http://h:2", "http://127.0.0.1:9999"]


def test_a_usage_error_is_one_line_that_lists_no_internal_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, prog in (
        (["bogus"], "abgate"),
        (["experiments", "bogus"], "abgate experiments"),
        (["experiments", "watch", "k", "--timeout", "-5"], "abgate experiments watch"),
    ):
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args(argv)
        assert stopped.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        command = prog.removeprefix("abgate").strip()
        said = f"abgate: {command}: " if command else "abgate: argument"
        assert line.startswith(said) and line.endswith(f"(see {prog} --help)"), line
        assert not any(h.strip() in line for h in HIDDEN) and "choose from" not in line


HIDDEN = ("serve-one", "shadow-worker", "set ")
INTERNAL = {"serve-one", "shadow-worker", "set"}  # started by abgate itself; set: a pointer


def _aliases(choice: argparse.Action) -> list[str]:
    """A listed subcommand's aliases: its metavar reads ``name (alias, ...)``."""
    metavar = str(choice.metavar or "")
    return metavar[metavar.find("(") + 1 : -1].split(", ") if "(" in metavar else []


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


def test_read_verbs_take_output_and_traffic_takes_a_reason() -> None:
    parser = build_parser()
    for argv in (
        ["models", "list"],
        ["models", "show", "v"],
        ["datasets", "list"],
        ["datasets", "show", "d"],
        ["experiments", "list"],
        ["experiments", "show", "k"],
        ["experiments", "status", "k"],
        ["production", "show"],
        ["shadow", "list"],
        ["tokens", "list"],
        ["audit"],
        ["whoami"],
        ["gates", "policy", "show"],
        ["dead-letters"],
    ):
        assert parser.parse_args(argv).output == "table", argv
        assert parser.parse_args([*argv, "-o", "json"]).output == "json", argv
        assert parser.parse_args([*argv, "--output", "json"]).output == "json", argv
    ramp = parser.parse_args(["experiments", "ramp", "k", "--coverage", "0.5", "--reason", "r"])
    traffic = parser.parse_args(
        ["experiments", "traffic", "k", "--coverage", "0.5", "--reason", "r"]
    )
    assert ramp.func is traffic.func and traffic.coverage == 0.5
    back = parser.parse_args(["production", "rollback", "--to", "prod-v1", "--reason", "r"])
    assert (back.to, back.reason) == ("prod-v1", "r")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://abgate.example.com", "https://abgate.example.com"),
        ("localhost:9", "http://localhost:9"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_a_url_may_leave_out_the_scheme(given: str, expected: str) -> None:
    assert base_url(given) == expected


@pytest.mark.parametrize("given", ["ftp://host:1", "http://host:port", "http://", "host:1?x=1"])
def test_a_bad_url_names_itself(given: str) -> None:
    with pytest.raises(ConfigError, match="--url"):
        base_url(given)


def _card_args(tmp_path: Path, card: object, version: str | None) -> argparse.Namespace:
    (tmp_path / "card.json").write_text(json.dumps(card))
    return build_parser().parse_args(
        [
            "models",
            "register",
            str(tmp_path / "model.onnx"),
            *(["--version", version] if version else []),
        ]
    )


def test_register_takes_the_version_from_the_card(tmp_path: Path) -> None:
    assert _model_card(_card_args(tmp_path, {"version": "v2"}, None))["version"] == "v2"
    assert _model_card(_card_args(tmp_path, {"version": "v2"}, "v2"))["version"] == "v2"
    assert _model_card(_card_args(tmp_path, {}, "v3"))["version"] == "v3"
    for card, version, text in (
        ({}, None, "names no version: give --version"),
        ({"version": "v2"}, "v3", "is 'v3' but the card"),
        ([1], None, "expected a JSON object"),
    ):
        with pytest.raises(ConfigError, match=text):
            _model_card(_card_args(tmp_path, card, version))


# --- what the read verbs print -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "code"),
    [
        ("concluded", "promoted", 0),
        ("archived", "promoted_to_ab", 0),
        ("concluded", "rolled_back", 3),
        ("concluded", "stopped", 4),
        ("concluded", "inconclusive", 4),
        ("archived", "none", 4),
        ("running", "none", 5),
        ("paused", "none", 5),
        ("draft", "none", 6),
    ],
)
def test_the_exit_code_says_the_outcome(status: str, outcome: str, code: int) -> None:
    assert out.outcome_code({"status": status, "outcome": outcome}) == code


def test_the_experiments_table_shows_lift_users_and_start() -> None:
    record = EvaluationRecord(
        "better", 0.0, "purchase_conversion", 0.05, 60.0,
        DecisionRecord("continue", None, ("waiting",)),
        units={"control": 500, "candidate": 510}, srm_p_value=0.7,
        arms=(ArmResult("candidate", 510, True, Estimate(0.12, 0.02, 0.25, 0.01), 0.01, None, True),),
    )  # fmt: skip
    view = {
        "key": "better",
        "status": "running",
        "primary_metric": "purchase_conversion",
        "phases": [{"weights": [0.5, 0.5], "started_at": 0.0}],
        "last_evaluation": record.to_json(),
    }
    draft = {"key": "next", "status": "draft", "kind": "interleaving", "phases": []}
    lines = out.experiments_table([view, draft]).splitlines()
    assert lines[0].split() == [
        "KEY", "KIND", "STATUS", "PRIMARY", "METRIC", "LIFT", "SO", "FAR", "USERS", "STARTED"
    ]  # fmt: skip
    assert "candidate +12.0 % [+2.0, +25.0]" in lines[1] and " 1010 " in lines[1]
    assert lines[1].startswith("better") and "1970-01-01 00:00:00" in lines[1]
    assert lines[2].split()[:3] == ["next", "interleaving", "draft"]


def test_the_models_table_shows_gates_and_uses() -> None:
    passed = {"results": [{"gate": "latency", "passed": True}]}
    failed = {"results": [{"gate": "latency", "passed": False}, {"gate": "ndcg", "passed": True}]}
    data = {
        "models": [
            {"version": "prod-v1", "state": "passed", "gates": passed, "in_use_by": ["production"]},
            {"version": "slow-v2", "state": "failed", "gates": failed, "in_use_by": []},
            {"version": "ok-v3", "state": "failed", "gates": failed, "override": {"by": "a"},
             "in_use_by": ["experiment:better", "shadow:ok-v3"]},
            {"version": "new-v4", "state": "gating", "gates": None},
            {"version": "old-v0", "state": "passed", "retired": True, "gates": passed},
        ]
    }  # fmt: skip
    rows = [line.split("  ") for line in out.models_table(data).splitlines()]
    cells = [[c.strip() for c in row if c.strip()] for row in rows]
    assert cells == [
        ["VERSION", "STATE", "GATES", "IN USE BY"],
        ["prod-v1", "passed", "passed", "production"],
        ["slow-v2", "failed", "failed: latency"],
        ["ok-v3", "failed", "overridden (failed: latency)", "experiment:better, shadow:ok-v3"],
        ["new-v4", "gating", "pending"],
        ["old-v0", "retired", "passed"],
    ]


def test_an_audit_line_names_time_actor_subjects_reason_and_change() -> None:
    entry = {
        "ts": 0.0,
        "actor": "dave",
        "reason": "step",
        "subjects": ["experiment:better"],
        "diff": [
            {"path": "experiments['better'].coverage", "old": 1.0, "new": 0.6},
            {"path": "a", "old": 1, "new": 2},
            {"path": "b", "old": 1, "new": 2},
        ],
    }
    line = out.audit_lines([entry]).splitlines()[1]
    assert line.startswith("1970-01-01 00:00:00  dave   experiment:better  step")
    assert line.endswith("experiments['better'].coverage: 1.0 → 0.6; a: 1 → 2; +1 more")


# --- user errors as a real process: one line, exit 2, no traceback ------------------------


def _abgate(*argv: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv],
        cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60,
    )  # fmt: skip


def _one_line_error(done: subprocess.CompletedProcess[str], *texts: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("abgate: "), done.stderr
    for text in texts:
        assert text in lines[0], lines[0]


def test_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    down = f"127.0.0.1:{free_port()}"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('key = "x"\ncoverage = = 1\n')
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "key": "x",\n  oops\n}')
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    (tmp_path / "card.json").write_text("{not json")
    cases = [
        (["experiments", "create", str(tmp_path / "missing.toml"), "--url", down],
         [f"{tmp_path / 'missing.toml'}: no such file"]),
        (["experiments", "create", str(bad_toml), "--url", down], [str(bad_toml), "line 2"]),
        (["experiments", "create", str(bad_json), "--url", down], [f"{bad_json}:3:3", "not JSON"]),
        (["models", "register", str(model), "--url", down], [f"{tmp_path / 'card.json'}:1:2"]),
        (["models", "register", str(tmp_path / "none.onnx"), "--version", "v", "--url", down],
         ["none.onnx: no such file"]),
        (["models", "list", "--url", down], [f"cannot reach the gateway at http://{down}",
                                             "is it running?"]),
        (["models", "list", "--url", "ftp://x:1"], ["--url: 'ftp://x:1'"]),
        (["experiments", "traffic", "k", "--reason", "r", "--url", down],
         ["give --coverage, --weights or both"]),
        (["experiments", "traffic", "k", "--coverage", "0.5"], ["--reason"]),
        (["audit", "--since", "last tuesday", "--url", down], ["--since", "'last tuesday'"]),
        (["set", "k", "--coverage", "0.5"], ["abgate experiments traffic KEY"]),
        (["experiments", "frobnicate"], ["invalid choice: 'frobnicate'"]),
        (["models", "list", "-o", "yaml"], ["invalid choice: 'yaml'"]),
    ]  # fmt: skip
    for argv, texts in cases:
        _one_line_error(_abgate(*argv), *texts)


def test_output_into_a_closed_pipe_stops_quietly() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: `| head -0`
    try:
        done = _abgate("experiments", "--help", stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_the_cli_starts_without_numpy_redis_or_the_serving_stack() -> None:
    """A CLI call is mostly its start-up (pipelines call it in loops): the admin verbs import
    neither numpy, nor the Redis client, nor the settings; the serving commands do, when run."""
    heavy = ("numpy", "redis", "onnxruntime", "gateway.settings", "gateway.http.app")
    done = subprocess.run(
        [sys.executable, "-c", "import sys, gateway.cli; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    loaded = set(done.stdout.split())
    assert not [m for m in heavy if m in loaded], [m for m in heavy if m in loaded]
