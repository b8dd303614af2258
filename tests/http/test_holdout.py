"""The holdout over real HTTP: begun and ended by audited changes, every bad body refused
naming its field with nothing changed, and searches routed by it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from tests.tokens import auth

ADMIN = auth("frank")


async def _search(client: TestClient, user: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/search", json={"user_id": user, "query": "tent", "candidates": list(range(20))}
    )
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def test_bad_holdouts_are_refused_naming_the_field_and_change_nothing(
    client: TestClient, gateway: Gateway
) -> None:
    good = {"version": "prod-v1", "share": 0.05, "reason": "measure a year of rankers"}
    bad = [
        ({**good, "share": 0}, ADMIN, 400, "$.share"),
        ({**good, "share": 0.5}, ADMIN, 400, "$.share"),
        ({**good, "share": "5%"}, ADMIN, 400, "$.share"),
        ({**good, "window_s": -1}, ADMIN, 400, "$.window_s"),
        ({**good, "colour": "red"}, ADMIN, 400, "$.colour"),
        ({k: v for k, v in good.items() if k != "reason"}, ADMIN, 400, "$.reason"),
        ({**good, "version": "nope-v1"}, ADMIN, 422, "version"),
        (good, auth("ed"), 403, None),  # an experimenter: holdouts are an admin's
    ]
    version = gateway.router.version
    for body, headers, status, where in bad:
        response = await client.put("/v1/holdout", json=body, headers=headers)
        assert response.status == status, (body, await response.text())
        error = (await response.json())["error"]
        if where is not None:
            assert error.get("where") == where, error
    assert gateway.router.version == version and gateway.router.config.holdout is None
    none = await (await client.get("/v1/holdout", headers=auth("vera"))).json()
    assert none == {"holdout": None, "report": None}
    response = await client.delete("/v1/holdout", json={"reason": "x"}, headers=ADMIN)
    assert response.status == 404


async def test_a_holdout_is_begun_routes_its_users_and_is_ended_audited(
    client: TestClient, gateway: Gateway
) -> None:
    body = {"version": "prod-v1", "share": 0.2, "window_s": 86_400.0, "reason": "a year"}
    response = await client.put("/v1/holdout", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()
    begun = (await response.json())["holdout"]
    assert (begun["version"], begun["share"], begun["active"]) == ("prod-v1", 0.2, True)
    assert begun["ends_at"] == begun["started_at"] + 86_400
    stats_id = begun["stats_id"]
    assert stats_id == f"holdout~{int(begun['started_at'])}"

    held = rest = 0
    for i in range(200):
        page = await _search(client, f"h{i}")
        tags = [(a["experiment"], a["variant"]) for a in page["assignments"]]
        if (stats_id, "holdout") in tags:
            held += 1
            assert tags == [(stats_id, "holdout")]  # in no experiment
            assert page["model_version"] == "prod-v1"
        else:
            rest += 1
            assert tags[-1] == (stats_id, "rest")
    assert held > 10 and rest > 100

    view = await (await client.get("/v1/holdout", headers=auth("vera"))).json()
    assert view["holdout"] == begun and view["report"] is None  # no worker here
    routing = await (await client.get("/v1/experiments", headers=auth("vera"))).json()
    assert routing["holdout"]["version"] == "prod-v1"

    again = await client.put("/v1/holdout", json={**body, "share": 0.1}, headers=ADMIN)
    assert again.status == 409, await again.text()
    no_reason = await client.delete("/v1/holdout", json={}, headers=ADMIN)
    assert no_reason.status == 400
    ended = await client.delete("/v1/holdout", json={"reason": "seen enough"}, headers=ADMIN)
    assert ended.status == 200, await ended.text()
    assert (await ended.json())["holdout"]["active"] is False
    page = await _search(client, "h-after")
    assert all(a["experiment"] != stats_id for a in page["assignments"])

    audit = await (
        await client.get("/v1/audit?subject=holdout&count=10", headers=auth("vera"))
    ).json()
    reasons = [e["reason"] for e in audit["entries"]]
    assert reasons == ["holdout ended: seen enough", "holdout of 0.2 on prod-v1: a year"]
    assert all(e["actor"] == "frank" for e in audit["entries"])
