"""The CLI's admin verbs against a live system (two gateway processes): tables and -o json, exit
codes by outcome, one-line errors, closed pipes and Ctrl-C; a clear error when the gateway is down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gateway.cli_output import lift
from gateway.cli_results import grouped, lift_text, value_text
from gateway.redis_server import free_port
from gateway.settings import ROOT
from sim.shoppers import ShopperTraffic
from tests.e2e.conftest import System
from tests.live import gateway_env
from tests.tokens import token_of


def _abgate(
    system: System | None, *args: str, url: str | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ABGATE_TOKEN=token or token_of("dave"))
    base = url or (system.base_url if system else "")
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--url", base],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _code(done: subprocess.CompletedProcess[str]) -> int:
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


RESULT_COLUMNS = ("METRIC", "ROLE", "ARM", "VALUE", "N", "LIFT [INTERVAL]", "P", "TEST", "SIG")


FUNNEL_COLUMNS = ("STEP", "ARM", "CONVERSION", "OF", "LIFT [INTERVAL]", "SIG")
# What each funnel step's conversion is over.
FUNNEL_OVER = {"search → click": "searches", "click → add-to-cart": "clicks",
               "add-to-cart → purchase": "add-to-carts"}  # fmt: skip


def _result_rows(
    text: str, columns: tuple[str, ...] = RESULT_COLUMNS
) -> dict[tuple[str, str], dict[str, str]]:
    """``experiments show``'s metric table (or, with FUNNEL_COLUMNS, its funnel table): (metric
    label or step, arm) -> its cells by column."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{columns[0]} "))
    head, offsets = lines[start], list[int]()
    for name in columns:
        offsets.append(head.index(name, offsets[-1] if offsets else 0))
    rows: dict[tuple[str, str], dict[str, str]] = {}
    metric = ""
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(offsets, [*offsets[1:], None], strict=True)]
        cell = dict(zip(columns, cells, strict=True))
        metric = cell[columns[0]] or metric
        rows[(metric.removesuffix(" (lower is better)"), cell["ARM"])] = cell
    return rows


def _verdict(lift: dict[str, Any] | None) -> str:
    return (
        "" if lift is None else "harm" if lift.get("harm") else "✓" if lift["significant"] else ""
    )


def _show_differs(text: str, view: dict[str, Any]) -> list[str]:
    """What ``experiments show`` prints that is not the API's figures."""
    evaluation = view["last_evaluation"]
    wrong = []
    units = ", ".join(f"{arm} {grouped(n)}" for arm, n in evaluation["units"].items())
    if f"  users: {units}; SRM p=" not in text:
        wrong.append(f"users {units!r}")
    if f"  decision: {evaluation['decision']['action']}" not in text:
        wrong.append("decision")
    rows = _result_rows(text)
    for m in evaluation["metrics"]:
        lifts = {lift["variant"]: lift for lift in m["lifts"]}
        for arm in m["arms"]:
            row = rows.get((m["label"], arm["variant"]))
            lift = lifts.get(arm["variant"])
            expected = {
                "VALUE": value_text(arm["value"], m["unit"]),
                "N": grouped(arm["n"]),
                "LIFT [INTERVAL]": "-" if lift is None else lift_text(lift, m["unit"]),
                "SIG": _verdict(lift),
            }
            if row is None or any(row[k] != v for k, v in expected.items()):
                wrong.append(f"{m['metric']}/{arm['variant']}: {row} for {expected}")
    # The funnel: each step's conversion per arm (a share) over its count, each treatment's lift.
    funnel = evaluation.get("funnel") or []
    steps = _result_rows(text, FUNNEL_COLUMNS) if funnel else {}
    if not funnel or len(steps) != sum(len(step["arms"]) for step in funnel):
        wrong.append(f"funnel rows {list(steps)} for {funnel}")
    for step in funnel:
        lifts = {lift["variant"]: lift for lift in step["lifts"]}
        for arm in step["arms"]:
            row = steps.get((step["step"], arm["variant"]))
            lift = lifts.get(arm["variant"])
            expected = {
                "CONVERSION": value_text(arm["value"], "share"),
                "OF": f"{grouped(arm['n'])} {FUNNEL_OVER[step['step']]}",
                "LIFT [INTERVAL]": "-" if lift is None else lift_text(lift, "share"),
                "SIG": _verdict(lift),
            }
            if row is None or any(row[k] != v for k, v in expected.items()):
                wrong.append(f"funnel {step['step']}/{arm['variant']}: {row} for {expected}")
    ttd = evaluation.get("time_to_decision")
    if (
        ttd
        and (ttd["units_needed"] or 0) > 0
        and f"about {grouped(ttd['units_needed'])} more" not in text
    ):
        wrong.append(f"time to decision {ttd}")
    for arm in evaluation.get("ops") or []:
        if not any(
            line.startswith(f"{arm['variant']} ") and f"  {grouped(arm['requests'])}  " in line
            for line in text.splitlines()
        ):
            wrong.append(f"ops {arm}")
    return wrong


def test_register_create_start_pause_production_freeze_promote(
    system: System, models_dir: Path, tmp_path: Path
) -> None:
    onnx = models_dir / "cand-v2" / "model.onnx"  # its card.json (naming cand-v2) lies beside it
    disagree = _abgate(system, "models", "register", str(onnx), "--version", "cand-v9")
    assert _code(disagree) == 2 and "is 'cand-v9' but the card" in disagree.stderr
    # The version from the card, when --version is left out.
    card = json.loads((onnx.parent / "card.json").read_text()) | {"version": "cand-v9"}
    (tmp_path / "card.json").write_text(json.dumps(card))
    (tmp_path / "model.onnx").write_bytes(onnx.read_bytes())
    card = _json(
        _abgate(system, "models", "register", str(tmp_path / "model.onnx"), "--notes", "cli")
    )
    assert (card["version"], card["notes"], card["registered_by"]) == ("cand-v9", "cli", "dave")
    listed = _abgate(system, "models", "list")
    assert listed.stdout.split()[:4] == ["VERSION", "STATE", "GATES", "IN"], listed.stdout
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert {"cand-v9", "prod-v1"} <= set(rows)
    assert rows["prod-v1"].split()[1:4] == ["passed", "passed", "production,"]
    assert "experiment:better" in rows["cand-v2"]
    assert {
        m["version"] for m in _json(_abgate(system, "models", "list", "-o", "json"))["models"]
    } >= {"cand-v9"}
    # One verb for a traffic change: new weights start a new phase of the running experiment.
    ramped = _json(
        _abgate(
            system, "experiments", "traffic", "better", "--weights", "control=0.9,candidate=0.1",
            "--reason", "ramp",
        )
    )  # fmt: skip
    assert ramped["experiment"]["phases"][-1]["weights"] == [0.9, 0.1]
    gone = _abgate(system, "set", "better", "--coverage", "0.5", "--reason", "r")
    assert _code(gone) == 2 and "abgate experiments traffic KEY" in gone.stderr
    for key in ("better", "worse", "aa"):
        _json(_abgate(system, "experiments", "stop", key, "--reason", "cli test"))
    assert _code(_abgate(system, "experiments", "status", "better")) == 4  # stopped
    created = _json(
        _abgate(
            system, "experiments", "create", str(ROOT / "configs" / "demo" / "ranker-cand-v2.toml")
        )
    )
    assert created["experiment"]["status"] == "draft"
    assert _code(_abgate(system, "experiments", "status", "ranker-cand-v2")) == 6  # a draft
    draft = _abgate(system, "experiments", "show", "ranker-cand-v2")
    assert _code(draft) == 0 and draft.stdout.splitlines()[-1] == "  no evaluation yet"
    started = _json(_abgate(system, "experiments", "start", "ranker-cand-v2"))
    assert started["experiment"]["status"] == "running"
    refused = _abgate(system, "experiments", "start", "ranker-cand-v2")
    assert _code(refused) == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "409: experiment 'ranker-cand-v2' is running" in refused.stderr
    paused = _json(
        _abgate(system, "experiments", "pause", "ranker-cand-v2", "--reason", "incident")
    )
    assert paused["experiment"]["status"] == "paused"
    status = _abgate(system, "experiments", "status", "ranker-cand-v2")
    assert _code(status) == 5 and status.stdout.startswith("ranker-cand-v2: paused")
    resumed = _json(_abgate(system, "experiments", "resume", "ranker-cand-v2", "--reason", "fixed"))
    assert resumed["experiment"]["status"] == "running"
    # Production: set twice, then back past the previous one to an earlier one.
    _json(_abgate(system, "production", "set", "cand-v2", "--reason", "cli"))
    _json(_abgate(system, "production", "set", "worse-v0", "--reason", "cli"))
    never = _abgate(system, "production", "rollback", "--to", "cand-v9", "--reason", "cli")
    assert _code(never) == 2 and "409: model version 'cand-v9' was never production" in never.stderr
    back = _json(_abgate(system, "production", "rollback", "--to", "prod-v1", "--reason", "cli"))
    assert back["production"] == "prod-v1"
    shown = _abgate(system, "production", "show")
    assert (
        shown.stdout.startswith("production: prod-v1")
        and "rollback from worse-v0 to prod-v1" in shown.stdout
    )
    shadows = _json(_abgate(system, "shadow", "set", "cand-v9", "--share", "0.5"))["shadows"]
    assert shadows == [{"version": "cand-v9", "share": 0.5}]
    assert (
        _json(_abgate(system, "shadow", "list", "-o", "json"))["shadows"][0]["version"] == "cand-v9"
    )
    assert "cand-v9" in _abgate(system, "shadow", "list").stdout
    assert _json(_abgate(system, "shadow", "stop", "cand-v9"))["shadows"] == []
    frozen = _json(_abgate(system, "freeze", "--reason", "cli"))
    assert frozen["frozen"] is True
    assert _json(_abgate(system, "unfreeze"))["frozen"] is False
    history = _json(_abgate(system, "production", "show", "-o", "json"))["history"]
    assert [h["actor"] for h in history[:2]] == ["dave", "dave"]
    _json(_abgate(system, "experiments", "promote", "ranker-cand-v2", "--reason", "won"))
    promoted = _abgate(system, "experiments", "status", "ranker-cand-v2", "-o", "json")
    assert _code(promoted) == 0 and json.loads(promoted.stdout)["outcome"] == "promoted"
    table = _abgate(system, "experiments", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["KEY", "KIND", "STATUS"]
    assert any(r.startswith("ranker-cand-v2") and "concluded (promoted)" in r for r in table)


def test_a_gateway_that_is_down_is_named_without_a_traceback() -> None:
    done = _abgate(None, "models", "list", url=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach the gateway" in done.stderr and "Traceback" not in done.stderr


def test_get_ramp_watch_audit_pipes_and_the_url_from_the_environment(system: System) -> None:
    got = _json(_abgate(system, "experiments", "get", "better", "-o", "json"))
    assert got["key"] == "better" and got["status"] == "running"
    ramped = _json(
        _abgate(system, "experiments", "ramp", "better", "--coverage", "0.6", "--reason", "step")
    )
    assert ramped["experiment"]["coverage"] == 0.6
    bad = _abgate(
        system, "experiments", "ramp", "better", "--weights", "control=x", "--reason", "r"
    )
    assert bad.returncode == 2 and "--weights" in bad.stderr and "Traceback" not in bad.stderr
    neither = _abgate(system, "experiments", "ramp", "better", "--reason", "r")
    assert neither.returncode == 2 and "give --coverage, --weights or both" in neither.stderr
    ghost = _abgate(system, "experiments", "status", "ghost")
    assert _code(ghost) == 2 and "404: experiment 'ghost' does not exist" in ghost.stderr
    _segments_declared(system)
    system.group.spawn("worker", ["worker", "--interval", "0.5"], gateway_env(system.settings, 0))
    traffic = ShopperTraffic(system.base_url, seed=3, concurrency=8, max_shoppers=300)
    assert asyncio.run(traffic.run()).errors == 0
    for _ in range(50):
        if _json(_abgate(system, "experiments", "get", "better", "-o", "json"))["last_evaluation"]:
            break
        time.sleep(0.2)
    # Still running when the draws run out: exit 5.
    watched = _abgate(system, "experiments", "watch", "better", "--times", "2", "--interval", "0.1")
    assert _code(watched) == 5, watched.stderr
    assert watched.stdout.count("better: running") == 2 and "decision:" in watched.stdout
    # show: every metric of every arm and the funnel's steps, as the API has them (the figures hold still once the
    # worker has counted the shoppers: read both again until they agree); --json: the API's.
    differences: list[str] = ["not compared"]
    for _ in range(40):
        shown = _abgate(system, "experiments", "show", "better")
        assert _code(shown) == 0, shown.stderr
        view = _json(_abgate(system, "experiments", "show", "better", "--json"))
        assert view["key"] == "better" and view["last_evaluation"]
        differences = _show_differs(shown.stdout, view)
        if not differences:
            break
        time.sleep(0.5)
    assert not differences, (differences, shown.stdout)
    assert shown.stdout.startswith("better  ab, running, phase 0, coverage 0.6, runtime ")
    _drilldown_shown(system)
    one = _abgate(system, "experiments", "watch", "better", "--times", "1", "--json")
    assert json.loads(one.stdout)["key"] == "better"
    listed = _abgate(system, "experiments", "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("better "))
    evaluation = _json(_abgate(system, "experiments", "get", "better", "-o", "json"))[
        "last_evaluation"
    ]
    assert row.split()[1:4] == ["ab", "running", "purchase_conversion"]
    assert f"  {lift(evaluation)}  " in row and f"  {sum(evaluation['units'].values())}  " in row
    log = _abgate(system, "audit", "--count", "5")
    assert log.returncode == 0 and "dave" in log.stdout and "step" in log.stdout
    assert "experiment:better" in log.stdout
    assert json.loads(_abgate(system, "audit", "--count", "2", "--json").stdout)["entries"]
    about = _json(
        _abgate(system, "audit", "--subject", "experiment:better", "--since", "10m", "-o", "json")
    )
    assert about["entries"] and all("experiment:better" in e["subjects"] for e in about["entries"])
    assert "step" in [e["reason"] for e in about["entries"]]
    assert _json(_abgate(system, "audit", "--actor", "nobody", "-o", "json"))["entries"] == []
    # A closed pipe (`abgate audit | head -0`): quiet, exit 141; Ctrl-C: exit 130.
    read, write = os.pipe()
    os.close(read)
    try:
        env = dict(os.environ, ABGATE_TOKEN=token_of("dave"))
        piped = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "audit", "--url", system.base_url],
            cwd=ROOT, env=env, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write)
    assert (piped.returncode, piped.stderr) == (141, "")
    watching = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "experiments", "watch", "better", "--interval", "60",
         "--url", system.base_url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watching.stdout is not None and watching.stdout.readline().startswith("better: ")
    watching.send_signal(signal.SIGINT)
    _, stderr = watching.communicate(timeout=60)
    assert (watching.returncode, "Traceback" in stderr) == (130, False), stderr
    version = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("abgate ")
    # no --url: ABGATE_URL says where the gateway is, as host:port without a scheme
    host_port = system.base_url.removeprefix("http://")
    env = dict(os.environ, ABGATE_URL=host_port, ABGATE_ADMIN_TOKEN="test-token")
    env.pop("ABGATE_TOKEN", None)
    listed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "experiments", "list", "-o", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0 and json.loads(listed.stdout)["production"]


def _segments_declared(system: System) -> None:
    """segments set declares the deployment's dimensions (audited as dave); segments show
    lists them as the API has them; a bad one is the gateway's one-line 400 naming it."""
    declared = _json(
        _abgate(system, "segments", "set", "--dimension", "device=context.device:mobile,desktop",
                "--dimension", "shopper=shopper", "--reason", "by device")
    )  # fmt: skip
    assert [d["name"] for d in declared["dimensions"]] == ["device", "shopper"]
    api = _json(_abgate(system, "segments", "show", "-o", "json"))
    assert api["dimensions"] == [
        {"name": "device", "source": "context.device", "values": ["mobile", "desktop"]},
        {"name": "shopper", "source": "shopper", "values": ["new", "returning"]},
    ]
    shown = _abgate(system, "segments", "show").stdout.splitlines()
    assert [line.split()[:2] for line in shown[1:]] == [["device", "context.device"],
                                                        ["shopper", "shopper"]]  # fmt: skip
    assert shown[1].endswith("mobile, desktop, (other)")
    bad = _abgate(system, "segments", "set", "--dimension", "Device:x", "--reason", "r")
    assert _code(bad) == 2 and "400" in bad.stderr and "$.dimensions[0].name" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    (entry,) = _json(_abgate(system, "audit", "--subject", "segments", "-o", "json"))["entries"]
    assert (entry["actor"], entry["reason"]) == ("dave", "by device")


def _drilldown_differs(text: str, answer: dict[str, Any], units: dict[str, str]) -> list[str]:
    """What ``experiments segments`` prints that is not the drill-down's figures."""
    lines = text.splitlines()
    wrong = []
    head = f"better  phase {answer['phase']}, metric {answer['metric']}, dimensions: "
    if not lines[0].startswith(head + ", ".join(answer["dimensions"])):
        wrong.append(f"first line {lines[0]!r}")
    unit = units[answer["metric"]]
    for segment in answer["segments"]:
        users = " / ".join(f"{arm} {grouped(n)}" for arm, n in segment["users"].items())
        for treatment in segment["lifts"]:
            start = f"{segment['dimension']} "
            found = [ln for ln in lines if ln.startswith(start) and f"  {segment['value']}  " in ln
                     and f"  {treatment['variant']}  " in ln]  # fmt: skip
            if len(found) != 1 or f"  {users}  " not in found[0]:
                wrong.append(f"{segment['dimension']}={segment['value']}: {found} for {users}")
            elif f"  {lift_text(treatment, unit)}  " not in found[0]:
                wrong.append(f"{found[0]!r}: not {lift_text(treatment, unit)}")
    return wrong


def _drilldown_shown(system: System) -> None:
    """experiments segments: the drill-down by every dimension as the API has it (the shoppers
    here send no device: all are device=other; shopper: new or returning); a dimension with no
    segments is the gateway's one-line 400 naming it."""
    units = {m["metric"]: m["unit"] for m in _json(
        _abgate(system, "experiments", "show", "better", "--json"))["last_evaluation"]["metrics"]}  # fmt: skip
    differences: list[str] = ["not compared"]
    for _ in range(40):
        text = _abgate(system, "experiments", "segments", "better").stdout
        answer = _json(_abgate(system, "experiments", "segments", "better", "-o", "json"))
        differences = _drilldown_differs(text, answer, units)
        if not differences:
            break
        time.sleep(0.5)
    assert not differences, (differences, text)
    assert {(s["dimension"], s["value"]) for s in answer["segments"]} >= {("device", "other")}
    revenue = _json(_abgate(system, "experiments", "segments", "better", "--metric",
                            "revenue_per_user", "--dimension", "device", "-o", "json"))  # fmt: skip
    assert revenue["metric"] == "revenue_per_user" and "device" in revenue["dimensions"]
    assert {s["dimension"] for s in revenue["segments"]} == {"device"}
    none = _abgate(system, "experiments", "segments", "better", "--dimension", "colour")
    assert _code(none) == 2 and "400" in none.stderr and "dimension" in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1


def test_tokens_create_whoami_refuse_and_revoke_and_a_second_admin_approves(
    system: System,
) -> None:
    created = _json(_abgate(system, "tokens", "create", "zoe", "--role", "experimenter"))
    token = created["token"]
    assert created["role"] == "experimenter" and created["created_by"] == "dave"
    assert _json(_abgate(system, "whoami", "-o", "json", token=token)) == {
        "name": "zoe",
        "role": "experimenter",
    }
    listed = _json(_abgate(system, "tokens", "list", "-o", "json"))["tokens"]
    assert "zoe" in _abgate(system, "tokens", "list").stdout
    assert {"zoe", "vera"} <= {t["name"] for t in listed}
    assert all("token" not in t and "sha256" not in t for t in listed)
    # An experimenter ramps (audited as zoe) but may not move production.
    ramped = _abgate(system, "experiments", "ramp", "better", "--coverage", "0.6", "--reason", "r",
                     token=token)  # fmt: skip
    assert ramped.returncode == 0, ramped.stderr
    assert _json(_abgate(system, "audit", "--json", "--count", "1"))["entries"][0]["actor"] == "zoe"
    refused = _abgate(system, "production", "set", "cand-v2", "--reason", "r", token=token)
    assert refused.returncode != 0 and "403" in refused.stderr and "needs admin" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    _json(_abgate(system, "tokens", "revoke", "zoe"))
    time.sleep(1.2)  # every process re-reads the tokens at least once a second
    gone = _abgate(system, "whoami", token=token)
    assert gone.returncode != 0 and "401" in gone.stderr
    _a_second_admin_approves(system)


def _a_second_admin_approves(system: System) -> None:
    """With production moves under the approval policy, dave's move waits for erin."""
    assert _json(_abgate(system, "approval-policy", "show", "-o", "json"))["stored"] is False
    changed = _json(_abgate(system, "approval-policy", "set", "production=true", "--reason", "r"))
    assert changed["policy"]["production"] is True
    asked = _json(_abgate(system, "production", "set", "cand-v2", "--reason", "ship"))
    approval = asked["approval"]
    assert (approval["status"], approval["requested_by"]) == ("pending", "dave")
    history = _json(_abgate(system, "production", "show", "-o", "json"))["history"]
    assert history[0]["to"] == "prod-v1"
    own = _abgate(system, "approvals", "approve", approval["id"])
    assert _code(own) == 2 and "403" in own.stderr and "cannot approve it" in own.stderr
    assert len(own.stderr.strip().splitlines()) == 1
    listed = _abgate(system, "approvals", "list").stdout
    assert "pending: 1" in listed and approval["id"] in listed and "set production" in listed
    done = _json(
        _abgate(system, "approvals", "approve", approval["id"], "--reason", "ok",
                token=token_of("erin"))
    )  # fmt: skip
    assert (done["status"], done["decided_by"]) == ("approved", "erin")
    history = _json(_abgate(system, "production", "show", "-o", "json"))["history"]
    assert (history[0]["from"], history[0]["to"], history[0]["actor"]) == (
        "prod-v1",
        "cand-v2",
        "dave",
    )
    trail = _json(_abgate(system, "audit", "--json", "--subject", f"approval:{approval['id']}"))
    assert [(e["actor"], e["approval"]["event"]) for e in trail["entries"]] == [
        ("dave", "applied"),
        ("erin", "approved"),
        ("dave", "requested"),
    ]
    # A rejected request changes nothing.
    back = _json(_abgate(system, "production", "rollback", "--reason", "slow"))["approval"]
    rejected = _json(
        _abgate(system, "approvals", "reject", back["id"], "--reason", "not now",
                token=token_of("erin"))
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    history = _json(_abgate(system, "production", "show", "-o", "json"))["history"]
    assert history[0]["to"] == "cand-v2"
    shown = _abgate(system, "approvals", "show", back["id"]).stdout
    assert "rejected" in shown and "not now" in shown
