from __future__ import annotations

import pytest

from gateway.config import parse_routing, routing_to_dict
from gateway.config.segments import parse_dimensions, search_segments
from gateway.errors import ConfigError

DIMENSIONS = [
    {"name": "device", "values": ["mobile", "desktop"]},
    {"name": "category", "source": "context.cat", "values": ["shoes", "tents"]},
    {"name": "shopper", "source": "shopper"},
    {"name": "query_class", "source": "query_class"},
]


def test_labels_keep_listed_values_and_count_the_rest_as_other() -> None:
    dims = parse_dimensions(DIMENSIONS, "segments")
    assert [d.source for d in dims] == ["context.device", "context.cat", "shopper", "query_class"]
    got = search_segments(dims, {"device": "mobile", "cat": "kayaks", "query_class": "head"})
    assert got == "device=mobile|category=other|shopper=*|query_class=head"
    assert search_segments(dims, {"device": 3}) == (
        "device=other|category=other|shopper=*|query_class=other"
    )
    assert search_segments((), {"device": "mobile"}) == ""


def test_the_routing_config_keeps_its_dimensions() -> None:
    config = parse_routing({"production": "v1", "segments": DIMENSIONS})
    assert [d.name for d in config.segments] == ["device", "category", "shopper", "query_class"]
    assert parse_routing(routing_to_dict(config)) == config
    assert parse_routing({"production": "v1"}).segments == ()


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"name": "device"}, "segments[0].values"),
        ({"name": "device", "values": ["mobile", "mobile"]}, "segments[0].values"),
        ({"name": "q", "source": "query_class", "values": ["head"]}, "segments[0].values"),
        ({"name": "device", "source": "context.", "values": ["a"]}, "segments[0].source"),
    ],
)
def test_a_bad_dimension_names_its_field(raw: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_dimensions([raw], "segments")
    assert err.value.where == where
    with pytest.raises(ConfigError, match="at most 6 dimensions"):
        parse_dimensions([{"name": f"d{i}", "values": ["a"]} for i in range(7)], "segments")
