"""deploy/prometheus/alerts.yml and deploy/grafana/abgate.json: every expression parses
(Debian's promtool: the rules file as it is, the dashboard's expressions written into a rules
file of their own), every alert has its severity and a runbook entry that exists in the docs,
and every series they name is exposed by a live gateway's and worker's /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.processes import wait_ready
from gateway.redis_server import free_port
from gateway.settings import Settings
from tests.docs.readme import anchors
from tests.e2e.conftest import running_system
from tests.live import gateway_env

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "abgate.json"
OPERATIONS = ROOT / "docs" / "operations.md"
SEVERITIES = {"critical", "warning", "info"}
# Series a rule may name that no abgate process exposes: Prometheus's own.
PROMETHEUS_SERIES = {"up"}
# Grafana's variables, each replaced by a value of its kind before promtool reads an expression.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

# PromQL words that are not series: keywords, and what grouping clauses list (labels).
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan", "atan2"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", flags=re.I
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")


def series_names(expr: str) -> set[str]:
    """The series a PromQL expression selects: identifiers that are not functions or
    aggregations (followed by '('), keywords, labels (in {...} or grouping lists), durations
    (in [...]) or numbers."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    return {
        name
        for name, call in _IDENTIFIER.findall(text)
        if not call and name.lower() not in _KEYWORDS
    }


def test_the_extractor_finds_series_and_nothing_else() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (model_version, le) (rate(abgate_search_seconds_bucket"
        '{model_version!="none", le=~"0.1|by"}[5m]))) > 1e-3 and on (instance) '
        "max without (stream) (abgate:lag:max offset 5m) / ignoring(x) group_left(y) "
        'up{job="abgate-worker"} == bool 0 or absent(foo_total) unless sum(rate(b[1h:1m])) by (a)'
    )
    assert series_names(expr) == {
        "abgate_search_seconds_bucket",
        "abgate:lag:max",
        "up",
        "foo_total",
        "b",
    }


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        why = "promtool is needed (make promtool: Debian's prometheus package)"
        if os.environ.get("ABGATE_REQUIRE_PROMTOOL") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return path


def _check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def _rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def _dashboard_exprs() -> list[str]:
    """Every expression of the dashboard: its panels' targets and its annotations."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def _as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


def test_the_alert_rules_pass_promtool() -> None:
    result = _check_rules(ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 30
    rules = [{"record": f"dashboard:expr_{i}", "expr": _as_promql(e)} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _check_rules(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_imports_with_any_prometheus_data_source() -> None:
    """Every query reads the dashboard's data source variable (chosen at import, switchable);
    panel ids are unique and every panel fits Grafana's 24 columns."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and "id" not in dashboard
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_a_broken_expression_fails_promtool(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(ALERTS.read_text().replace("> 0.01", "> > 0.01", 1))
    result = _check_rules(path)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_every_alert_has_a_severity_and_a_runbook_entry_in_the_docs() -> None:
    alerts = [rule for rule in _rules() if "alert" in rule]
    assert len(alerts) >= 12
    headings = anchors(OPERATIONS)
    for rule in alerts:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor in headings, (rule["alert"], anchor)


def _names_used(rules_text: str) -> set[str]:
    rules = [r for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"]]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    exprs = [str(rule["expr"]) for rule in rules] + [_as_promql(e) for e in _dashboard_exprs()]
    return {name for e in exprs for name in series_names(e)} - recorded - PROMETHEUS_SERIES


def _missing(rules_text: str, exposed: set[str]) -> list[str]:
    return sorted(_names_used(rules_text) - exposed)


async def _scrape(session: aiohttp.ClientSession, url: str) -> set[str]:
    async with session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, str]]:
    """(the gateways' base URL, the worker's) of a live system: two gateway processes and a
    worker with its metrics endpoint."""
    with running_system(settings) as system:
        port = free_port()
        system.group.spawn(
            "worker",
            ["worker", "--interval", "0.5", "--metrics-port", str(port)],
            gateway_env(settings, 0),
        )
        worker = f"http://127.0.0.1:{port}"
        wait_ready(worker + "/healthz", system.group)
        yield system.base_url, worker


@pytest.mark.slow
async def test_every_series_the_rules_and_dashboard_name_is_exposed(
    live: tuple[str, str],
) -> None:
    base, worker = live
    async with aiohttp.ClientSession() as session:
        # A search in an experiment and a click on it: what a deployment has done within
        # seconds of taking traffic (the experiments' arms are counted from their first).
        async with session.post(
            f"{base}/v1/search", json={"user_id": "u1", "query": "tent", "candidates": [1, 2]}
        ) as response:
            assert response.status == 200
            page = await response.json()
        assert page["assignments"], "three_experiments.toml covers every user"
        click = {"event_id": "c1", "type": "click", "search_id": page["search_id"]}
        click |= {"user_id": "u1", "item_id": page["results"][0]["item_id"]}
        async with session.post(f"{base}/v1/events", json=click) as response:
            assert response.status == 202
        exposed: set[str] = set()
        for _ in range(50):  # the worker's stream lag is there after its first evaluation
            exposed = await _scrape(session, f"{base}/metrics") | await _scrape(
                session, f"{worker}/metrics"
            )
            if "abgate_worker_stream_lag" in exposed:
                break
            await asyncio.sleep(0.2)
    text = ALERTS.read_text()
    used = _names_used(text)
    assert {"abgate_searches_total", "abgate_worker_stream_lag", "abgate_redis_up"} <= used
    assert _missing(text, exposed) == []
    # The check can fail: a misspelt series in a rule is named.
    typo = text.replace("abgate_worker_stream_lag)", "abgate_worker_stream_lags)", 1)
    assert _missing(typo, exposed) == ["abgate_worker_stream_lags"]
