"""Named features per candidate: the decoders learned per name set read the same table, and
refuse the same bodies with the same errors, as the general decoder."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bench.features import NAMED_OBJECTS, searches
from gateway import schema
from gateway.errors import RequestError


def _variants() -> list[dict[str, Any]]:
    out = []
    for size in ((50, 8), (7, 136)):
        good = searches(*size, count=2)[NAMED_OBJECTS]
        body, c = good[0], good[0]["candidates"]
        first = next(iter(c[1]["features"]))

        def with_second(second: Any, body: dict[str, Any] = body, c: list[Any] = c) -> Any:
            return body | {"candidates": [c[0], second, *c[2:]]}

        out += [
            *good,
            body
            | {"candidates": [x | {"features": dict(reversed(x["features"].items()))} for x in c]},
            with_second(c[1] | {"features": dict(list(c[1]["features"].items())[1:])}),
            with_second(c[1] | {"features": c[1]["features"] | {"extra": 1.0}}),
            with_second(c[1] | {"features": c[1]["features"] | {first: 1e39}}),
            with_second(c[1] | {"features": list(c[1]["features"].values())}),
            with_second(c[1]["id"]),
            with_second(c[0]),
            body | {"features": {"x": [1.0] * len(c)}},
            body | {"candidates": [x | {"bad": 1} for x in c]},
            body | {"candidates": [x | {"id": " "} for x in c]},
        ]
    return out


def _parsed(body: dict[str, Any]) -> Any:
    try:
        request = schema.parse_search(orjson.dumps(body))
    except RequestError as exc:
        return str(exc)
    table = request.features
    assert table is not None and table.names is not None
    names = sorted(table.names)
    return request.candidates, names, table.select(names, "v").tolist()


def test_learned_decoders_read_as_the_general_one(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = _variants()
    learned = [_parsed(b) for b in bodies * 2]  # the second time, every name set is known
    assert {8, 136} <= {len(names) for names in schema._NAMED._by_names}
    monkeypatch.setattr(schema._NAMED, "decode", lambda raw: None)
    assert learned == [_parsed(b) for b in bodies * 2]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {"candidates": [{"id": "A", "features": {"a": 1, "b": "high"}}]},
            "$.candidates[0].features.b",
        ),
        (
            {
                "candidates": [
                    {"id": "A", "features": {"a": 1}},
                    {"id": "B", "features": {"a": True}},
                ]
            },
            "$.candidates[1].features.a",
        ),
        ({"candidates": ["A"], "features": {"a": [1], "b": ["x"]}}, "$.features.b[0]"),
        ({"candidates": ["A"], "features": {"a": [1], "b": 3}}, "$.features.b"),
    ],
)
def test_a_bad_named_feature_is_named(body: dict[str, Any], where: str) -> None:
    raw = orjson.dumps({"user_id": "u", "query": "q"} | body)
    with pytest.raises(RequestError) as caught:
        schema.parse_search(raw)
    assert caught.value.where == where


def test_a_number_out_of_range_is_named_too() -> None:
    raw = b'{"user_id": "u", "query": "q", "candidates": [{"id": "A", "features": {"x": 1e400}}]}'
    with pytest.raises(RequestError) as caught:
        schema.parse_search(raw)
    assert caught.value.where == "$.candidates[0].features.x"
