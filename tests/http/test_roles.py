"""Every route × no token, a wrong token, and each role: 401, 403 or past the gate, exactly as
the route table says; refusals counted by reason and audited at a bounded rate."""

from __future__ import annotations

import re

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.access.roles import Role
from gateway.access.tokens import hash_token
from gateway.http.routes import ROUTES, Route
from gateway.http.state import Gateway
from tests.tokens import audited_changes, auth

# Path parameters that exist (or, for destructive verbs, that do not, so nothing is changed
# while the gate is what is under test).
PARAMS = {
    "key": "better",
    "version": "nope-v9",
    "name": "nobody",
    "dataset": "nope-d9",
    "approval": "nope0",
}
CALLERS: dict[str, Role | None] = {
    "vera": Role.VIEWER,
    "ed": Role.EXPERIMENTER,
    "alice": Role.ADMIN,
}


def _path(route: Route) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], route.path)


async def _send(client: TestClient, route: Route, headers: dict[str, str]) -> int:
    # An empty object: every change needs fields, so a caller past the gate gets a 4xx from
    # the handler (or a harmless answer), never a change of consequence.
    body = None if route.method in ("GET", "DELETE") else b"{}"
    response = await client.request(
        route.method,
        _path(route),
        data=body,
        headers=headers | ({"Content-Type": "application/json"} if body else {}),
    )
    await response.read()
    return response.status


GUARDED = [r for r in ROUTES if r.role is not None and r.role != Role.STOREFRONT]


def test_every_change_needs_more_than_a_viewer_and_every_read_a_viewer() -> None:
    serving = {("POST", "/v1/search"), ("POST", "/v1/events")}
    for route in ROUTES:
        if route.path.startswith("/v1/"):
            assert route.role is not None, route
        if (route.method, route.path) in serving:
            assert route.role == Role.STOREFRONT, route
        elif route.method != "GET" and route.role is not None:
            assert route.role >= Role.EXPERIMENTER, route
    admin_only = {(r.method, r.path) for r in ROUTES if r.role == Role.ADMIN}
    assert {
        ("PUT", "/v1/production"),
        ("POST", "/v1/production/rollback"),
        ("POST", "/v1/freeze"),
        ("POST", "/v1/models/{version}/override"),
        ("POST", "/v1/tokens"),
        ("PUT", "/v1/approval-policy"),
        ("POST", "/v1/approvals/{approval}/approve"),
        ("POST", "/v1/approvals/{approval}/reject"),
    } <= admin_only


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: f"{r.method} {r.path}")
async def test_route_by_caller(client: TestClient, gateway: Gateway, route: Route) -> None:
    assert route.role is not None
    before = await audited_changes(gateway.redis, gateway.keys)
    assert await _send(client, route, {}) == 401
    assert await _send(client, route, {"Authorization": "Bearer not-a-token"}) == 401
    assert await _send(client, route, {"Authorization": "Basic YWxpY2U6eA=="}) == 401
    for name, role in CALLERS.items():
        status = await _send(client, route, auth(name))
        if role is not None and role >= route.role:
            assert status not in (401, 403), (name, status)
        else:
            assert status == 403, (name, status)
    # The refused attempts changed nothing.
    after = await audited_changes(gateway.redis, gateway.keys)
    assert [e for e in after if e not in before] == [] or route.method != "GET"


async def test_refusals_are_counted_and_audited_per_actor_and_route(
    client: TestClient, gateway: Gateway
) -> None:
    """Thirty refused attempts by three callers: each caller is in the trail at the next write
    (one entry per actor and route, with its count), none held back behind another."""
    await gateway.refusal_audit.flush()
    start = await gateway.redis.xlen(gateway.keys.audit)
    for _ in range(20):
        assert (await client.put("/v1/production", json={}, headers=auth("vera"))).status == 403
    for _ in range(7):
        assert (await client.post("/v1/freeze", json={}, headers=auth("ed"))).status == 403
    for name in ("better", "worse", "aa"):
        response = await client.get(
            f"/v1/experiments/{name}", headers={"Authorization": "Bearer x"}
        )
        assert response.status == 401
    assert await gateway.redis.xlen(gateway.keys.audit) == start  # nothing waits on Redis
    assert await gateway.refusal_audit.flush() == 3
    entries = [orjson.loads(f[b"e"]) for _, f in await gateway.redis.xrange(gateway.keys.audit)]
    by_actor = {e["actor"]: e for e in entries[start:]}
    assert set(by_actor) == {"vera", "ed", "anonymous"}
    vera, ed, anonymous = by_actor["vera"], by_actor["ed"], by_actor["anonymous"]
    assert vera["refused"]["count"] == 20 and vera["refused"]["reason"] == "role"
    assert "vera is viewer; this needs admin" in vera["reason"] and "(20 times)" in vera["reason"]
    assert ed["refused"]["count"] == 7 and ed["refused"]["route"] == "/v1/freeze"
    assert anonymous["refused"]["count"] == 3 and anonymous["refused"]["reason"] == "bad_token"
    assert anonymous["refused"]["route"] == "/v1/experiments/{key}"
    assert anonymous["refused"]["remotes"] == ["127.0.0.1"]
    assert await gateway.refusal_audit.flush() == 0  # written once
    text = await (await client.get("/metrics")).text()
    counted = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^abgate_refused_total\{reason="(\w+)"\} (\S+)$', text, re.M)
    }
    assert counted.get("role", 0) >= 27 and counted.get("bad_token", 0) >= 3


async def test_a_revoked_tokens_attempts_are_audited_under_its_holder(
    client: TestClient, gateway: Gateway
) -> None:
    created = await client.post(
        "/v1/tokens", json={"name": "quinn", "role": "viewer"}, headers=auth("alice")
    )
    quinn = {"Authorization": f"Bearer {(await created.json())['token']}"}
    assert (await client.delete("/v1/tokens/quinn", headers=auth("alice"))).status == 200
    await gateway.refusal_audit.flush()
    start = await gateway.redis.xlen(gateway.keys.audit)
    refused = await client.get("/v1/experiments", headers=quinn)
    assert refused.status == 401
    assert "quinn's token was revoked" in (await refused.json())["error"]["message"]
    assert await gateway.refusal_audit.flush() == 1
    (entry,) = [orjson.loads(f[b"e"]) for _, f in await gateway.redis.xrange(gateway.keys.audit)][
        start:
    ]
    assert entry["actor"] == "quinn" and entry["refused"]["reason"] == "revoked_token"


async def test_a_token_is_stored_hashed_named_in_the_audit_and_revocable(
    client: TestClient, gateway: Gateway
) -> None:
    created = await client.post(
        "/v1/tokens", json={"name": "zoe", "role": "experimenter"}, headers=auth("alice")
    )
    assert created.status == 201
    token = (await created.json())["token"]
    stored = await gateway.redis.hget(gateway.keys.tokens, "zoe")
    assert isinstance(stored, bytes)
    assert token.encode() not in stored and hash_token(token).encode() in stored
    zoe = {"Authorization": f"Bearer {token}"}
    again = await client.post(
        "/v1/tokens", json={"name": "zoe", "role": "viewer"}, headers=auth("alice")
    )
    assert again.status == 409
    ramp = await client.patch("/v1/experiments/better", json={"coverage": 0.7}, headers=zoe)
    assert ramp.status == 200
    assert (await gateway.store.audit_log(1))[0]["actor"] == "zoe"
    assert (await client.delete("/v1/tokens/zoe", headers=zoe)).status == 403
    assert (await client.delete("/v1/tokens/zoe", headers=auth("alice"))).status == 200
    assert (await client.get("/v1/whoami", headers=zoe)).status == 401
    trail = [e for e in await audited_changes(gateway.redis, gateway.keys) if "token" in e]
    assert [e["reason"].split(":")[0] for e in trail] == [
        "token zoe (experimenter) created",
        "token zoe revoked",
    ]


@pytest.mark.parametrize(
    "body, where",
    [
        ({"name": "zoe"}, "$.role"),
        ({"name": "zoe", "role": "owner"}, "$.role"),
        ({"name": "a b", "role": "viewer"}, "$.name"),
        ({"name": "zoe", "role": "viewer", "extra": 1}, "$.extra"),
    ],
)
async def test_bad_token_requests_name_the_field(
    client: TestClient, gateway: Gateway, body: dict[str, object], where: str
) -> None:
    response = await client.post("/v1/tokens", json=body, headers=auth("alice"))
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["where"] == where
    assert await gateway.redis.hget(gateway.keys.tokens, "zoe") is None
