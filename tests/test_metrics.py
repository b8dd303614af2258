"""The metrics' tables of known label values: a process makes each series at zero from its start,
and every label value the code counts under is in its metric's table (a value missing from it
would appear only after its first count, which is what the tables are for)."""

from __future__ import annotations

import ast
import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import get_args, get_type_hints

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from gateway.config import load_routing_file
from gateway.config.holdout import Holdout
from gateway.http.loop_lag import LoopLag
from gateway.records import OUTCOME_TYPES
from gateway.schema import Event

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {metric: set(values) for metric, values in metrics.AT_START}
NAMES = {name: getattr(metrics, name) for name in dir(metrics) if name.isupper()}


def _labelled_series() -> set[tuple[str, str]]:
    return {
        (family.name, value)
        for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        for sample in family.samples
        for value in sample.labels.values()
        if not sample.name.endswith("_bucket")  # le="..."
    }


def test_every_known_series_exists_once_a_process_starts() -> None:
    metrics.series_at_start()
    metrics.series_of_version("v-test-series")
    series = _labelled_series()
    for metric, values in metrics.AT_START:
        for value in values:
            assert (metric._name, value) in series, f"{metric._name}{{{value}}} is missing"
    for metric in metrics.PER_VERSION:
        assert (metric._name, "v-test-series") in series, metric._name


def test_events_are_counted_under_the_types_a_request_may_name() -> None:
    types = get_args(get_type_hints(Event)["type"])
    assert set(types) == KNOWN[metrics.EVENTS] == set(OUTCOME_TYPES)


def _metric(call: ast.Call) -> object | None:
    """The metric of a ``metrics.NAME.labels(...)`` or ``NAME.labels(...)`` call."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "labels"):
        return None
    owner = call.func.value
    if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name):
        return NAMES.get(owner.attr) if owner.value.id == "metrics" else None
    return NAMES.get(owner.id) if isinstance(owner, ast.Name) else None


def _counted_values() -> list[tuple[str, object, str]]:
    """(where, metric, value) for each label value written as a literal in the gateway's code,
    and each search outcome a handler sets (``request[OUTCOME] = "..."``)."""
    found: list[tuple[str, object, str]] = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and node.args:
                metric, arg = _metric(node), node.args[0]
                if metric is not None and isinstance(arg, ast.Constant):
                    found.append((where, metric, str(arg.value)))
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    key = target.slice if isinstance(target, ast.Subscript) else None
                    if isinstance(key, ast.Name) and key.id == "OUTCOME":
                        found.append((where, metrics.SEARCHES, str(node.value.value)))
    return found


def test_every_label_value_counted_is_in_its_metrics_table() -> None:
    found = _counted_values()
    assert len(found) >= 15  # the scan sees the calls (errors, connections, sink, spool, search)
    for where, metric, value in found:
        assert metric in KNOWN, f"{where}: {metric} is counted by label but has no AT_START row"
        assert value in KNOWN[metric], f"{where}: {value!r} is not in {metric}'s AT_START row"


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_config_applied_makes_its_running_arms_series_at_zero() -> None:
    config = replace(
        load_routing_file(ROOT / "tests" / "configs" / "three_experiments.toml"),
        holdout=Holdout("prod-v1", 0.05, started_at=1_700_000_000.0),
    )
    arms = metrics.running_arms(config)
    assert arms == (
        ("better", "control"),
        ("better", "candidate"),
        ("worse", "control"),
        ("worse", "candidate"),
        ("aa", "control"),
        ("aa", "twin"),
        ("holdout~1700000000", "holdout"),
        ("holdout~1700000000", "rest"),
    )
    metrics.config_applied(41, config)
    assert _value("abgate_config_version") == 41
    for experiment, variant in arms:
        exposures = _value(
            "abgate_experiment_exposures_total", experiment=experiment, variant=variant
        )
        assert exposures is not None, (experiment, variant)
        for kind in OUTCOME_TYPES:
            events = _value(
                "abgate_experiment_events_total", experiment=experiment, variant=variant, type=kind
            )
            assert events is not None, (experiment, variant, kind)
    concluded = replace(config, experiments=(), holdout=None)
    assert metrics.running_arms(concluded) == ()  # a concluded experiment gets no new series


async def test_the_loop_lag_gauge_is_the_lag_the_shedding_reads() -> None:
    lag = LoopLag(interval_s=0.002, window=2)
    lag.start()
    try:
        for _ in range(6):
            time.sleep(0.01)  # noqa: ASYNC251 - the loop's thread busy: its timer fires late
            await asyncio.sleep(0)  # its late tick runs
        assert lag.lag_s > 0
        assert _value("abgate_loop_lag_seconds") == lag.lag_s
    finally:
        lag.close()
