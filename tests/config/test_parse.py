"""Config validation: every error names the field, the rule and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_routing_file, parse_routing, routing_to_dict
from gateway.errors import ConfigError
from tests.conftest import TEST_CONFIGS


def _config(**experiment: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "key": "ranker-q4",
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
        ],
    }
    return {"production": "prod-v1", "experiments": [base | experiment]}


def test_shipped_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    shipped = {
        root / "configs" / "experiments.toml": None,  # a deployment of one's own starts empty
        root / "configs" / "demo" / "routing.toml": "prod-v1",  # the demo says its own
        TEST_CONFIGS / "three_experiments.toml": "prod-v1",
    }
    for path, production in shipped.items():
        config = load_routing_file(path)
        assert config.production == production
        assert parse_routing(routing_to_dict(config)) == config


def test_no_production_yet_runs_nothing() -> None:
    empty = parse_routing({})
    assert empty.production is None and not empty.served_versions()
    assert parse_routing({"production": None}) == empty == parse_routing(routing_to_dict(empty))
    draft = parse_routing({"experiments": _config(status="draft")["experiments"]})
    assert draft.referenced_versions() == {"prod-v1", "cand-v2"}
    with pytest.raises(ConfigError, match=r"config\.production: is required while experiments run"):
        parse_routing({"experiments": _config()["experiments"]})
    with pytest.raises(ConfigError, match=r"config\.production: is required while versions run in"):
        parse_routing({"shadows": [{"version": "cand-v2", "share": 0.5}]})


def test_production_defaults_a_week_and_an_equal_split() -> None:
    unweighted = [{"name": n, "model_version": f"{n}-v1"} for n in ("a", "b", "c")]
    for kind in ("ab", "bandit", "multileaving"):
        (experiment,) = parse_routing(
            {
                "production": "prod-v1",
                "experiments": [{"key": "e", "kind": kind, "variants": unweighted}],
            }
        ).experiments
        assert [v.weight for v in experiment.variants] == [1 / 3] * 3, kind
        assert experiment.analysis.min_runtime_s == 7 * 86_400, kind
    partly = [unweighted[0] | {"weight": 0.5}, unweighted[1]]
    with pytest.raises(ConfigError, match=r"variants\[1\]\.weight: is required once another"):
        parse_routing(_config(variants=partly))
    with pytest.raises(ConfigError, match=r"must exceed min_runtime_s \(604800, its default"):
        parse_routing(_config(max_runtime_s=3600))


def test_stats_settings_round_trip() -> None:
    config = parse_routing(
        _config(
            guardrails=[{"metric": "click_through_rate", "margin": 0.02}],
            method="group-sequential",
            horizon_units_per_arm=50_000,
            looks=20,
            correction="benjamini-hochberg",
            min_runtime_s=3600,
            max_runtime_s=14 * 86400,
        )
    )
    experiment = config.experiments[0]
    assert experiment.analysis.guardrails[0].margin == 0.02 and experiment.analysis.looks == 20
    assert parse_routing(routing_to_dict(config)) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "variants": [
                    {"name": "a", "model_version": "m", "weight": 0.5},
                    {"name": "b", "model_version": "m", "weight": 0.47},
                ]
            },
            "experiments[0] 'ranker-q4'.variants: weights sum to 0.97, expected 1.0",
        ),
        ({"coverage": 1.5}, "coverage: must be in [0.0, 1.0], got 1.5"),
        ({"coverage": "all"}, "coverage: expected a number, got 'all'"),
        (
            {"status": "halted"},
            "status: must be one of ['draft', 'running', 'paused', 'concluded', 'archived'], "
            "got 'halted'",
        ),
        ({"hash_version": 3}, "hash_version: must be one of [1, 2], got 3"),
        ({"namespace_range": [0.5, 0.2]}, "namespace_range: expected [start, end]"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
        ({"key": "Bad Key"}, "key: must match"),
        ({"variants": [{"name": "a", "model_version": "m", "weight": 1.0}]}, "at least 2"),
        (
            {
                "variants": [
                    {"name": "a", "model_version": "m", "weight": 0.5},
                    {"name": "a", "model_version": "m", "weight": 0.5},
                ]
            },
            "must be unique",
        ),
        ({"min_units_per_arm": 0}, "min_units_per_arm: expected an integer >= 1, got 0"),
        (
            {"guardrails": [{"metric": "bounce_rate", "margin": 0.01}]},
            "guardrails[0].metric: must be one of ['purchase_conversion', 'revenue_per_user', "
            "'click_through_rate', 'clicked_search_rate', 'carts_per_search', 'mrr_first_click', "
            "'dcg_at_10', 'mrr_clicks', 'abandonment_rate', 'revenue_per_search'], "
            "got 'bounce_rate'",
        ),
        ({"guardrails": [{"metric": "click_through_rate"}]}, "guardrails[0].margin: is required"),
        (
            {"guardrails": [{"metric": "purchase_conversion", "margin": 0.01}]},
            "guardrails[0].metric: 'purchase_conversion' is the primary metric",
        ),
        (
            {"guardrails": [{"metric": "click_through_rate", "margin": 2}]},
            "guardrails[0].margin: must be in [0.0, 1.0], got 2",
        ),
        (
            {
                "guardrails": [
                    {"metric": "click_through_rate", "margin": 0.01},
                    {"metric": "click_through_rate", "margin": 0.02},
                ]
            },
            "one guardrail per metric",
        ),
        ({"method": "bayes"}, "method: must be one of ['auto', 'confidence-sequence'"),
        ({"method": "group-sequential"}, "'group-sequential' needs horizon_units_per_arm"),
        ({"horizon_units_per_arm": 1}, "horizon_units_per_arm: expected an integer in [2,"),
        ({"looks": 5000}, "looks: expected an integer in [1, 1000], got 5000"),
        ({"mde": 0}, "mde: must be in [0.0001, 10.0], got 0"),
        (
            {"correction": "sidak"},
            "correction: must be one of ['holm', 'benjamini-hochberg', 'bonferroni']",
        ),
        (
            {"require_shadow": {"min_overlap": 0.5, "max_overlap": 0.2}},
            "require_shadow.max_overlap: must be at least min_overlap",
        ),
        ({"require_shadow": {"min_searches": 0}}, "require_shadow.min_searches: expected"),
        ({"ramp": [{"coverage": 0.5}], "coverage": 0.3}, "coverage: follows the ramp schedule"),
        ({"max_error_rate": 2}, "max_error_rate: must be in [0.0, 1.0], got 2"),
        ({"max_latency_ratio": 0.5}, "max_latency_ratio: must be in [1.0, 1000.0]"),
        (
            {"attribution_window_s": 10},
            "experiments[0] 'ranker-q4'.attribution_window_s: must be in [60, 7776000], got 10",
        ),
        ({"attribution_window_s": 91 * 86400}, "attribution_window_s: must be in [60, 7776000]"),
        ({"attribution_window_s": "week"}, "attribution_window_s: expected a number, got 'week'"),
        ({"phases": [{"weights": [0.7, 0.7], "started_at": 1}]}, "phases[0].weights: expected 2"),
        (
            {"min_runtime_s": 600, "max_runtime_s": 60},
            "max_runtime_s: must exceed min_runtime_s (600), got 60",
        ),
        (
            {"paused_at": 5.0},
            "'ranker-q4'.paused_at: is set only while the experiment is paused (status "
            "'running'), got 5.0",
        ),
        ({"status": "paused", "paused_by": "hand"}, "'ranker-q4'.paused_at: is required while"),
        ({"status": "paused", "paused_at": 5}, "'ranker-q4'.paused_by: is required while"),
        (
            {"status": "paused", "paused_at": 5, "paused_by": "ops"},
            "paused_by: must be one of ['hand', 'freeze'], got 'ops'",
        ),
        ({"status": "paused", "paused_at": -1, "paused_by": "hand"}, "paused_at: must be in"),
        ({"paused_s": -3}, "'ranker-q4'.paused_s: must be in [0.0, 100000000000.0], got -3"),
    ],
)
def test_errors_name_field_rule_and_value(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_routing(_config(**change))
    assert message in str(info.value)


def test_the_attribution_window_defaults_to_a_week_and_round_trips(tmp_path: Path) -> None:
    assert parse_routing(_config()).experiments[0].analysis.attribution_window_s == 604_800
    path = tmp_path / "routing.toml"
    path.write_text(
        'production = "prod-v1"\n[[experiments]]\nkey = "ranker-q4"\nattribution_window_s = 3600\n'
        'variants = [{name = "a", model_version = "prod-v1", weight = 0.5},\n'
        '            {name = "b", model_version = "cand-v2", weight = 0.5}]\n'
    )
    config = load_routing_file(path)
    assert config.experiments[0].analysis.attribution_window_s == 3600
    assert routing_to_dict(config)["experiments"][0]["attribution_window_s"] == 3600
    assert parse_routing(routing_to_dict(config)) == config


def test_default_model_version_is_read_as_production() -> None:
    data = _config()
    data["default_model_version"] = data.pop("production")
    assert parse_routing(data).production == "prod-v1"
    with pytest.raises(ConfigError, match=r"config\.default_model_version: is the old name"):
        parse_routing(data | {"production": "prod-v1"})


def test_overlapping_ranges_are_rejected_among_running_experiments_only() -> None:
    data = _config(namespace_range=[0.0, 0.6])
    second = dict(data["experiments"][0], key="other", namespace_range=[0.5, 1.0])
    data["experiments"].append(second)
    with pytest.raises(ConfigError, match="overlap"):
        parse_routing(data)
    for status in ("draft", "concluded", "archived"):
        data["experiments"][1]["status"] = status
        assert parse_routing(data).experiments[1].status == status


def test_a_paused_experiment_round_trips_and_keeps_its_range() -> None:
    paused = {"status": "paused", "paused_at": 1e9, "paused_by": "freeze", "paused_s": 30.0}
    config = parse_routing(_config(**paused) | {"frozen": True})
    experiment = config.experiments[0]
    assert (experiment.status, experiment.paused_at, experiment.paused_by) == (
        "paused",
        1e9,
        "freeze",
    )
    assert experiment.paused_total(1e9 + 10) == 40.0 and config.running == ()
    assert config.routed_versions() == {"prod-v1"}  # routes nobody
    assert config.referenced_versions() == {"prod-v1", "cand-v2"}  # but holds its versions
    stored = routing_to_dict(config)
    assert {k: stored["experiments"][0][k] for k in paused} == paused
    assert parse_routing(stored) == config
    # A config stored before pauses existed reads as never paused.
    older = routing_to_dict(parse_routing(_config()))
    for name in ("paused_at", "paused_by", "paused_s"):
        del older["experiments"][0][name]
    assert parse_routing(older).experiments[0].paused_s == 0.0
    # A paused experiment's range is still taken: nothing else runs over it.
    data = _config(**paused)
    data["experiments"].append(dict(data["experiments"][0], key="other", status="running"))
    del data["experiments"][1]["paused_at"], data["experiments"][1]["paused_by"]
    with pytest.raises(ConfigError, match="running and paused experiments need disjoint"):
        parse_routing(data)


def test_nothing_runs_while_frozen() -> None:
    with pytest.raises(ConfigError, match=r"config.frozen: experiments cannot run while frozen"):
        parse_routing(_config() | {"frozen": True})
    assert parse_routing(_config(status="concluded") | {"frozen": True}).frozen


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("default_model_version = \n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load_routing_file(path)


def test_shadows_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"config\.shadows: 'prod-v1' is production"):
        parse_routing(_config() | {"shadows": [{"version": "prod-v1", "share": 0.5}]})
    with pytest.raises(ConfigError, match=r"config\.shadows\[0\]\.share: must be in"):
        parse_routing(_config() | {"shadows": [{"version": "cand-v2", "share": 0}]})
    two = [{"version": "cand-v2", "share": 0.5}] * 2
    with pytest.raises(ConfigError, match="one entry per version"):
        parse_routing(_config() | {"shadows": two})


def _interleaved(kind: str, versions: list[str], **fields: Any) -> dict[str, Any]:
    variants = [{"name": f"v{i}", "model_version": m} for i, m in enumerate(versions)]
    return _config(kind=kind, variants=variants, **fields)


def test_interleaving_weights_are_optional_and_round_trip() -> None:
    config = parse_routing(
        _interleaved(
            "multileaving",
            ["prod-v1", "cand-v2", "worse-v0"],
            interleaving={"then": "ab", "credit": "purchase", "min_slots": 500},
        )
    )
    experiment = config.experiments[0]
    assert experiment.interleaved and experiment.interleaving is not None
    assert [v.weight for v in experiment.variants] == pytest.approx([1 / 3] * 3)
    assert experiment.interleaving.then == "ab" and experiment.interleaving.min_slots == 500
    assert config.routed_versions() == {"prod-v1", "cand-v2", "worse-v0"}
    assert parse_routing(routing_to_dict(config)) == config
    plain = parse_routing(_interleaved("interleaving", ["prod-v1", "prod-v1"]))
    assert plain.experiments[0].interleaving is not None  # defaults: an A/I test is allowed


@pytest.mark.parametrize(
    ("config", "where", "message"),
    [
        (
            _interleaved("interleaving", ["a", "b", "c"]),
            "'ranker-q4'.variants",
            'exactly 2 versions, got 3; use "multileaving"',
        ),
        (
            _interleaved("multileaving", ["a", "b"]),
            "'ranker-q4'.variants",
            'merges 3 to 6 versions, got 2; use "interleaving" for 2',
        ),
        (
            _interleaved("multileaving", ["a", "b", "a"]),
            "'ranker-q4'.variants",
            "needs 3 different versions",
        ),
        (
            _interleaved("multileaving", [f"m{i}" for i in range(7)]),
            "'ranker-q4'.variants",
            "got 7",
        ),
        (_config(interleaving={}), "'ranker-q4'.interleaving", 'kind = "interleaving"'),
        (
            _interleaved("interleaving", ["a", "b"], interleaving={"then": "staging"}),
            "'ranker-q4'.interleaving.then",
            "must be one of ['production', 'ab'], got 'staging'",
        ),
        (
            _interleaved("interleaving", ["a", "b"], interleaving={"min_slots": 0}),
            "'ranker-q4'.interleaving.min_slots",
            "expected an integer in [1,",
        ),
        (
            _interleaved("interleaving", ["a", "b"], interleaving={"page": 10}),
            "'ranker-q4'.interleaving",
            "unknown field(s) ['page']",
        ),
        (
            _interleaved(
                "interleaving",
                ["a", "b"],
                guardrails=[{"metric": "click_through_rate", "margin": 0.1}],
            ),
            "'ranker-q4'.guardrails",
            "sees every version",
        ),
    ],
)
def test_interleaving_errors_name_the_field(
    config: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_routing(config)
    assert where in raised.value.where
    assert message in str(raised.value)
