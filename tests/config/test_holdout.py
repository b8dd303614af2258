"""The holdout in the routing config: parsed, validated (errors name the field) and stored
back unchanged."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from gateway.config import parse_routing, routing_to_dict
from gateway.config.holdout import Holdout
from gateway.errors import ConfigError

STARTED = 1_700_000_000.0


def _config(**holdout: Any) -> dict[str, Any]:
    return {
        "production": "prod-v1",
        "holdout": {"version": "prod-v1", "share": 0.05, "started_at": STARTED} | holdout,
    }


def test_a_holdout_round_trips_through_its_stored_form() -> None:
    config = parse_routing(_config(ends_at=STARTED + 86_400, seed="s"))
    assert config.holdout == Holdout("prod-v1", 0.05, STARTED, STARTED + 86_400, None, "s")
    assert parse_routing(routing_to_dict(config)) == config
    assert parse_routing({"production": "prod-v1"}).holdout is None


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"share": 0}, "config.holdout.share", "above 0"),
        ({"share": 0.25}, "config.holdout.share", "[0.0, 0.2]"),
        ({"share": "5%"}, "config.holdout.share", "expected a number"),
        ({"version": ""}, "config.holdout.version", "non-empty string"),
        ({"ends_at": STARTED - 1}, "config.holdout.ends_at", "after started_at"),
        ({"attribution_window_s": 1}, "config.holdout.attribution_window_s", "must be in"),
        ({"colour": "red"}, "config.holdout", "unknown field(s) ['colour']"),
    ],
)
def test_a_bad_holdout_is_refused_naming_the_field(
    change: dict[str, Any], where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routing(_config(**change))
    assert caught.value.where == where
    assert words in caught.value.detail


def test_a_running_holdout_needs_production() -> None:
    data = _config()
    data["production"] = None
    with pytest.raises(ConfigError) as caught:
        parse_routing(data)
    assert caught.value.where == "config.holdout"


def test_its_stats_id_cannot_be_an_experiment_key() -> None:
    from gateway.config import KEY_RE

    holdout = Holdout("v", 0.1, STARTED)
    assert holdout.stats_id == "holdout~1700000000"
    assert not KEY_RE.match(holdout.stats_id)
    assert not holdout.stats_id.startswith("_")  # the exposure script refuses those
    # No experiment's per-user keys pattern (the retention's scan) reaches the holdout's:
    for key in ("holdout", "h", "holdout-1700000000"):
        for pattern in (f"unit:{key}:*", f"unit:{key}@*"):
            assert not fnmatch.fnmatchcase(f"unit:{holdout.stats_id}:user-1", pattern)
