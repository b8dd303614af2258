"""The deployment's segment dimensions over real HTTP: declared by an audited change, every
bad body refused naming its field with nothing changed, and searches' exposures labelled."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from tests.tokens import auth

ADMIN = auth("frank")
DIMENSIONS = [
    {"name": "device", "values": ["mobile", "desktop"]},
    {"name": "shopper", "source": "shopper"},
    {"name": "query_class", "source": "query_class"},
]


async def test_bad_dimensions_are_refused_naming_the_field_and_change_nothing(
    client: TestClient, gateway: Gateway
) -> None:
    bad = [
        ([{"name": "Device", "values": ["a"]}], "$.dimensions[0].name"),
        ([{"name": "device", "source": "header.ua", "values": ["a"]}], "$.dimensions[0].source"),
        ([{"name": "device", "values": ["other"]}], "$.dimensions[0].values[0]"),
        ([{"name": "device", "values": ["a:b"]}], "$.dimensions[0].values[0]"),
        ([{"name": "device", "values": []}], "$.dimensions[0].values"),
        ([{"name": "device", "values": [str(i) for i in range(13)]}], "$.dimensions[0].values"),
        ([{"name": "d", "values": ["a"]}, {"name": "d", "values": ["b"]}], "$.dimensions[1].name"),
        ([{"name": "s", "source": "shopper", "values": ["x"]}], "$.dimensions[0].values"),
        ([{"name": "device", "colour": "red", "values": ["a"]}], "$.dimensions[0].colour"),
    ]
    version = gateway.router.version
    for dimensions, where in bad:
        body = {"dimensions": dimensions, "reason": "break results down"}
        response = await client.put("/v1/segments", json=body, headers=ADMIN)
        assert response.status == 400, (dimensions, await response.text())
        assert (await response.json())["error"]["where"] == where, dimensions
    no_reason = await client.put("/v1/segments", json={"dimensions": []}, headers=ADMIN)
    assert no_reason.status == 400
    as_experimenter = await client.put(
        "/v1/segments", json={"dimensions": DIMENSIONS, "reason": "x"}, headers=auth("ed")
    )
    assert as_experimenter.status == 403
    assert gateway.router.version == version and gateway.router.config.segments == ()


async def test_dimensions_are_declared_audited_and_label_exposures(
    client: TestClient, gateway: Gateway
) -> None:
    body = {"dimensions": DIMENSIONS, "reason": "break results down"}
    response = await client.put("/v1/segments", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()
    declared = (await response.json())["dimensions"]
    assert declared[0] == {
        "name": "device",
        "source": "context.device",
        "values": ["mobile", "desktop"],
    }
    assert declared[1]["values"] == ["new", "returning"]
    got = await (await client.get("/v1/segments", headers=auth("vera"))).json()
    assert got == {"dimensions": declared}
    again = await client.put("/v1/segments", json=body, headers=ADMIN)
    assert again.status == 409  # nothing to change
    audit = await (await client.get("/v1/audit?subject=segments", headers=ADMIN)).json()
    assert audit["entries"][0]["actor"] == "frank"
    # a search in an experiment carries its segments on its exposure (shopper: the worker's)
    for device, user in (("tablet", "u-seg-1"), ("mobile", "u-seg-2")):
        search = {"user_id": user, "query": "tent", "candidates": list(range(20)),
                  "context": {"device": device}}  # fmt: skip
        response = await client.post("/v1/search", json=search)
        assert response.status == 200, await response.text()
    labels = {}
    for _ in range(100):
        for user in ("u-seg-1", "u-seg-2"):
            for _, fields in await gateway.redis.xrange(gateway.keys.for_user(user).exposures):
                exposure: dict[str, Any] = orjson.loads(fields[b"e"])
                if exposure["user_id"] == user and exposure["assignments"]:
                    labels[user] = exposure.get("segments")
        if len(labels) == 2:
            break
        await asyncio.sleep(0.05)
    assert labels["u-seg-1"] == "device=other|shopper=*|query_class=other"  # warming up
    assert labels["u-seg-2"] == "device=mobile|shopper=*|query_class=other"


async def test_an_experiments_segments_are_drilled_down_by_metric(
    client: TestClient, gateway: Gateway
) -> None:
    viewer = auth("vera")
    empty = await client.get("/v1/experiments/better/segments", headers=viewer)
    assert empty.status == 200, await empty.text()
    data = await empty.json()
    assert data["metric"] == "purchase_conversion" and data["segments"] == []
    bad = [
        ("/v1/experiments/better/segments?metric=bounce", 400, "metric"),
        ("/v1/experiments/better/segments?dimension=device", 400, "dimension"),
        ("/v1/experiments/nope/segments", 404, None),
    ]
    for path, status, where in bad:
        response = await client.get(path, headers=viewer)
        assert response.status == status, (path, await response.text())
        if where is not None:
            assert (await response.json())["error"]["where"] == where
    # sums kept for two segments of the current phase: every metric can be read there
    sid = gateway.router.config.experiment("better").stats_id
    stats = gateway.keys.for_user("x").stats(sid)
    for arm in ("control", "candidate"):
        for value, users in (("mobile", 300), ("desktop", 500)):
            await gateway.redis.hset(
                stats,
                mapping={
                    f"{arm}|device={value}:users": users,
                    f"{arm}|device={value}:searches": users * 2,
                },
            )
        await gateway.redis.hset(stats, mapping={f"{arm}:users": 800, f"{arm}:searches": 1600})
    got = await (
        await client.get(
            "/v1/experiments/better/segments?metric=click_through_rate&dimension=device",
            headers=viewer,
        )
    ).json()
    assert got["dimensions"] == ["device"] and got["metric"] == "click_through_rate"
    assert [(s["value"], s["users"]["control"]) for s in got["segments"]] == [
        ("desktop", 500), ("mobile", 300)
    ]  # fmt: skip
