"""What the CLI prints about segments and alerts, from hand-made API answers in the shapes of
gateway/results.py (SegmentResult, Alert): ``experiments show``'s alerts under its header and
its short segments table with ⚠ on an alerted segment, ``experiments segments``' drill-down,
``segments show``'s dimensions; and ``segments set``'s options as the API's body, every bad
one a one-line error naming the option."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import build_parser
from gateway.cli_segments import (
    alert_flag,
    alert_lines,
    dimensions_body,
    dimensions_table,
    drilldown_text,
    parse_dimension,
    segment_rows,
    show,
)
from gateway.errors import ConfigError
from gateway.redis_server import free_port
from tests.test_admin_cli import _abgate, _one_line_error
from tests.test_cli_results import CONVERSION, _view


def _lift(variant: str, lift: float, low: float, high: float, p: float | None = None) -> Any:
    return {"variant": variant, "scale": "relative", "lift": lift, "ci_low": low,
            "ci_high": high, "p_value": p, "test": "superiority", "margin": None,
            "significant": False, "harm": False}  # fmt: skip


def _segment(value: str, users: tuple[int, int], lift: Any, rest: Any, differs: float) -> Any:
    return {
        "dimension": "device",
        "value": value,
        "metric": "purchase_conversion",
        "users": {"control": users[0], "candidate": users[1]},
        "srm_p_value": 0.64,
        "arms": [
            {"variant": "control", "value": 0.4, "n": users[0], "users": users[0], "std_error": 0.02},
            {"variant": "candidate", "value": 0.3, "n": users[1], "users": users[1], "std_error": 0.02},
        ],
        "lifts": [lift],
        "rest_lifts": [rest],
        "differs_p": {"candidate": differs},
    }  # fmt: skip


MOBILE = _segment("mobile", (512, 498), _lift("candidate", -0.25, -0.4, -0.1, 0.002),
                  _lift("candidate", 0.45, 0.3, 0.6), 0.00004)  # fmt: skip
DESKTOP = _segment("desktop", (1500, 1510), _lift("candidate", 0.45, 0.3, 0.6, 0.0001),
                   _lift("candidate", -0.25, -0.4, -0.1), 0.00004)  # fmt: skip
ALERTS = [
    {"kind": "event_health", "level": "weak", "message": "candidate: events per search 12 % of "
     "the control's", "variant": "candidate", "blocks": True},
    {"kind": "segment", "level": "strong", "message": "device=mobile: candidate's lift -25.0 % "
     "differs from the rest's +45.0 % (p 4e-05 < 0.01/3)", "p_value": 0.00004,
     "threshold": 0.0033, "variant": "candidate", "metric": "purchase_conversion",
     "dimension": "device", "value": "mobile"},
]  # fmt: skip


def test_alerts_list_strong_first_and_mark_what_blocks_a_promotion() -> None:
    assert alert_lines(ALERTS) == [
        "⚠ strong  segment: device=mobile: candidate's lift -25.0 % differs from the rest's "
        "+45.0 % (p 4e-05 < 0.01/3)",
        "⚠ weak    event health: candidate: events per search 12 % of the control's  "
        "(blocks promotion)",
    ]
    assert alert_lines([]) == []


def test_an_alert_flags_its_own_segment_only() -> None:
    assert alert_flag(ALERTS, MOBILE, "candidate") == "⚠ strong"
    assert alert_flag(ALERTS, DESKTOP, "candidate") == ""
    assert alert_flag(ALERTS, MOBILE, "other-arm") == ""  # the alert names its treatment
    other_metric = MOBILE | {"metric": "revenue_per_user"}
    assert alert_flag(ALERTS, other_metric, "candidate") == ""
    weak = [ALERTS[1] | {"level": "weak"}]
    assert alert_flag(weak + ALERTS, MOBILE, "candidate") == "⚠ strong"  # the strongest
    assert alert_flag(weak, MOBILE, "candidate") == "⚠ weak"


def test_show_lists_the_alerts_under_the_header_and_the_segments_after_the_metrics() -> None:
    text = show(_view(metrics=[CONVERSION], segments=[MOBILE, DESKTOP], alerts=ALERTS))
    lines = text.splitlines()
    head = lines.index("  alerts:")
    assert lines[head - 1].startswith("    - ")  # after the decision's reasons
    assert lines[head + 1].startswith("    ⚠ strong  segment: device=mobile")
    assert lines[head + 2].endswith("(blocks promotion)")
    assert text.index("purchase conversion") < text.index("segments (purchase_conversion)")
    assert text.index("segments (purchase_conversion)") < text.index("time to decision")
    table = text.split("segments (purchase_conversion)\n")[1].split("\n\n")[0].splitlines()
    assert table[0].split() == ["DIMENSION", "VALUE", "USERS", "ARM", "LIFT", "[INTERVAL]",
                                "DIFFERS", "P", "ALERT"]  # fmt: skip
    mobile, desktop = table[1], table[2]
    assert mobile.startswith("device     mobile   control 512 / candidate 498")
    assert "-25.0 % [-40.0, -10.0]" in mobile and "<0.001" in mobile
    assert mobile.endswith("⚠ strong")
    assert "control 1 500 / candidate 1 510" in desktop and "+45.0 % [+30.0, +60.0]" in desktop
    assert "⚠" not in desktop


def test_show_without_segments_or_alerts_is_the_results_alone() -> None:
    plain = _view(metrics=[CONVERSION])
    text = show(plain)
    assert "alerts" not in text and "segments" not in text and "purchase conversion" in text
    assert show(plain | {"last_evaluation": None}).endswith("no evaluation yet")


def test_the_drilldown_shows_values_the_rest_and_the_segments_srm() -> None:
    answer = {"experiment": "better", "phase": 1, "metric": "purchase_conversion",
              "dimensions": ["device", "shopper"], "segments": [MOBILE, DESKTOP],
              "alerts": ALERTS}  # fmt: skip
    text = drilldown_text(answer, {"purchase_conversion": "share"})
    first, alerts, strong, *_ = text.splitlines()
    assert first == "better  phase 1, metric purchase_conversion, dimensions: device, shopper"
    assert strong.strip().startswith("⚠ weak") and alerts.strip().startswith("⚠ strong")
    (row,) = [r for r in segment_rows([MOBILE], ALERTS, {"purchase_conversion": "share"}, True)]
    assert row == ("device", "mobile", "control 512 / candidate 498", "40.0 % / 30.0 %",
                   "candidate", "-25.0 % [-40.0, -10.0]", "+45.0 % [+30.0, +60.0]", "<0.001",
                   "0.640", "⚠ strong")  # fmt: skip
    assert "REST OF DIMENSION" in text and "SRM P" in text
    # A metric counted in another unit reads in its own: an absolute lift of a count.
    count = copy.deepcopy(MOBILE)
    count["lifts"][0] |= {"scale": "absolute", "lift": 0.5, "ci_low": 0.1, "ci_high": 0.9}
    (row,) = segment_rows([count], [], {"purchase_conversion": "count"}, False)
    assert row[4] == "+0.5 [+0.1, +0.9]" and row[-1] == ""


def test_a_drilldown_with_nothing_says_why() -> None:
    empty = {"experiment": "k", "phase": 0, "metric": "m", "dimensions": [], "segments": []}
    assert "no segments in this phase: the deployment's dimensions" in drilldown_text(empty, {})
    waiting = empty | {"dimensions": ["device"]}
    assert drilldown_text(waiting, {}).endswith("no segment has users yet")


def test_the_dimensions_table_names_source_and_values() -> None:
    answer = {"dimensions": [
        {"name": "device", "source": "context.device", "values": ["mobile", "desktop"]},
        {"name": "shopper", "source": "shopper", "values": ["new", "returning"]},
    ]}  # fmt: skip
    assert dimensions_table(answer).splitlines() == [
        "DIMENSION  SOURCE          VALUES",
        "device     context.device  mobile, desktop, (other)",
        "shopper    shopper         new, returning, (other)",
    ]
    assert dimensions_table({"dimensions": []}).startswith("no dimensions declared")


def test_a_dimension_option_is_the_apis_dimension() -> None:
    assert parse_dimension("device=context.device:mobile,desktop") == {
        "name": "device", "source": "context.device", "values": ["mobile", "desktop"]
    }  # fmt: skip
    assert parse_dimension("shopper=shopper") == {"name": "shopper", "source": "shopper"}
    assert parse_dimension("device:mobile") == {"name": "device", "values": ["mobile"]}
    assert parse_dimension("device") == {"name": "device"}  # the gateway names what it lacks
    for bad in ("=context.device", "device=", "device=:mobile", "device=context.device:mobile,,x"):
        with pytest.raises(ConfigError) as error:
            parse_dimension(bad)
        assert error.value.where == "--dimension" and repr(bad) in str(error.value)
    body = dimensions_body(["shopper=shopper"], None, "by shopper")
    assert body == {
        "dimensions": [{"name": "shopper", "source": "shopper"}],
        "reason": "by shopper",
    }
    listed = [{"name": "device", "source": "context.device", "values": ["mobile"]}]
    assert dimensions_body([], listed, "r")["dimensions"] == listed
    assert dimensions_body([], {"dimensions": []}, "r")["dimensions"] == []  # none declared
    for specs, given, where in (([], None, "--dimension"), (["a=shopper"], [], "--file"),
                                ([], {"dimensions": 3}, "--file")):  # fmt: skip
        with pytest.raises(ConfigError) as error:
            dimensions_body(specs, given, "r")
        assert error.value.where == where


def test_the_parser_takes_the_segment_verbs() -> None:
    parser = build_parser()
    drill = parser.parse_args(
        ["experiments", "segments", "k", "--metric", "revenue_per_user", "--dimension", "device"]
    )
    assert (drill.key, drill.metric, drill.dimension, drill.output) == (
        "k", "revenue_per_user", "device", "table"
    )  # fmt: skip
    assert parser.parse_args(["experiments", "segments", "k", "-o", "json"]).output == "json"
    assert parser.parse_args(["segments", "show", "--json"]).output == "json"
    assert parser.parse_args(["segments", "get"]).output == "table"
    given = parser.parse_args(["segments", "set", "--dimension", "device=context.device:mobile",
                               "--dimension", "shopper=shopper", "--reason", "r"])  # fmt: skip
    assert given.dimension == ["device=context.device:mobile", "shopper=shopper"]


def test_segment_verbs_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    down = f"127.0.0.1:{free_port()}"
    both = tmp_path / "dims.json"
    both.write_text(json.dumps([{"name": "device"}]))
    cases = [
        (["segments", "set", "--dimension", "=shopper", "--reason", "r", "--url", down],
         ["--dimension: expected name[=source]"]),
        (["segments", "set", "--reason", "r", "--url", down], ["--dimension: give at least one"]),
        (["segments", "set", "--file", str(tmp_path / "none.json"), "--reason", "r"],
         ["none.json: no such file"]),
        (["segments", "set", "--file", str(both), "--dimension", "s=shopper", "--reason", "r",
          "--url", down], ["--file: give --dimension options or --file, not both"]),
        (["segments", "set", "--dimension", "s=shopper"], ["--reason"]),
        (["experiments", "segments", "k", "--url", down], ["cannot reach the gateway"]),
    ]  # fmt: skip
    for argv, texts in cases:
        _one_line_error(_abgate(*argv), *texts)
