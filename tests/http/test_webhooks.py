"""The webhooks' admin API: register, list, remove, the delivery log; every bad body a 4xx
naming the field, changing nothing; every change audited without the secret."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main
from gateway.http.state import Gateway
from gateway.webhooks.records import Attempt, Delivery
from gateway.webhooks.signing import SECRET_PREFIX
from gateway.webhooks.store import WebhookStore
from tests.tokens import audited_changes, auth, token_of

ADMIN = auth("carol")
URL = "http://127.0.0.1:9/hooks/T000/B000/chat-secret-in-path?token=abc"


async def _post(client: TestClient, body: Any, status: int) -> Any:
    response = await client.post("/v1/webhooks", json=body, headers=ADMIN)
    data = await response.json()
    assert response.status == status, data
    return data


async def test_register_list_remove(client: TestClient, gateway: Gateway) -> None:
    created = await _post(
        client,
        {"name": "ops", "url": URL, "events": ["decision", "production.moved", "decision"]},
        201,
    )
    assert created["secret"].startswith(SECRET_PREFIX)
    assert created["events"] == ["decision", "production.moved"]  # each once
    assert created["created_by"] == "carol"
    given = await _post(
        client,
        {"name": "all", "url": "https://hooks.example/x", "events": ["*", "decision"],
         "secret": "s" * 32, "reason": "the pager"},
        201,
    )  # fmt: skip
    assert "secret" not in given and given["events"] == ["*"]
    listed = await (await client.get("/v1/webhooks", headers=ADMIN)).json()
    assert [w["name"] for w in listed["webhooks"]] == ["all", "ops"]
    assert "decision" in listed["event_types"] and "alert.srm" in listed["event_types"]
    assert created["secret"] not in orjson.dumps(listed).decode()
    # The audit trail names the endpoint and its origin, never its secret, path or query.
    entries = await gateway.store.audit_log()
    registered = [e for e in entries if e.get("webhook")]
    assert [e["webhook"]["name"] for e in registered] == ["all", "ops"]
    assert registered[1]["webhook"]["origin"] == "http://127.0.0.1:9"
    assert "chat-secret" not in orjson.dumps(entries).decode()
    assert created["secret"] not in orjson.dumps(entries).decode()
    assert "the pager" in registered[0]["reason"]
    audit = await (await client.get("/v1/audit?subject=webhook:ops", headers=ADMIN)).json()
    assert len(audit["entries"]) == 1

    removed = await client.delete("/v1/webhooks/ops", json={"reason": "moved"}, headers=ADMIN)
    assert removed.status == 200 and (await removed.json())["removed"] is True
    listed = await (await client.get("/v1/webhooks", headers=ADMIN)).json()
    assert [w["name"] for w in listed["webhooks"]] == ["all"]
    audit = await (await client.get("/v1/audit?subject=webhook:ops", headers=ADMIN)).json()
    assert audit["entries"][0]["reason"] == "webhook ops removed: moved"
    again = await client.delete("/v1/webhooks/ops", headers=ADMIN)
    assert again.status == 404


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"name": "a", "url": "ftp://h/x", "events": ["*"]}, "$.url", "http:// or https://"),
        ({"name": "a", "url": "http://u:p@h/x", "events": ["*"]}, "$.url", "credentials"),
        ({"name": "a", "url": "http:///x", "events": ["*"]}, "$.url", "host"),
        ({"name": "a", "url": "http://h:99999/", "events": ["*"]}, "$.url", "ort"),
        ({"name": "a", "url": "http://h/ x", "events": ["*"]}, "$.url", "without spaces"),
        ({"name": "a", "url": "http://h/", "events": ["deploys"]}, "$.events[0]", "deploys"),
        ({"name": "a", "url": "http://h/", "events": []}, "$.events", ""),
        ({"name": "-a", "url": "http://h/", "events": ["*"]}, "$.name", ""),
        ({"name": "a", "url": "http://h/", "events": ["*"], "secret": "short"}, "$.secret", ""),
        ({"name": "a", "url": "http://h/", "events": ["*"], "colour": 1}, "colour", ""),
        ({"url": "http://h/", "events": ["*"]}, "name", ""),
    ],
)
async def test_bad_registrations_are_4xx_naming_the_field_and_change_nothing(
    client: TestClient, gateway: Gateway, body: dict[str, Any], where: str, says: str
) -> None:
    before = await audited_changes(gateway.redis, gateway.keys)
    error = (await _post(client, body, 400))["error"]
    assert where in (error.get("where", "") + error["message"]), error
    assert says in error["message"], error
    assert await audited_changes(gateway.redis, gateway.keys) == before
    assert await WebhookStore(gateway.redis, gateway.keys).all() == []


async def test_a_name_is_registered_once(client: TestClient, gateway: Gateway) -> None:
    await _post(client, {"name": "a", "url": "http://h/", "events": ["*"]}, 201)
    before = await audited_changes(gateway.redis, gateway.keys)
    error = (await _post(client, {"name": "a", "url": "http://g/", "events": ["*"]}, 409))["error"]
    assert "'a' exists" in error["message"]
    assert await audited_changes(gateway.redis, gateway.keys) == before
    (kept,) = await WebhookStore(gateway.redis, gateway.keys).all()
    assert kept.url == "http://h/"


async def test_the_delivery_log(client: TestClient, gateway: Gateway) -> None:
    await _post(client, {"name": "a", "url": "http://h/", "events": ["*"]}, 201)
    store = WebhookStore(gateway.redis, gateway.keys)
    delivery = Delivery(
        id="d1", endpoint="a", event_id="1-0/decision", type="decision", ts=1.0, body="{}"
    )
    await store.enqueue([delivery])
    for n in (1, 2):
        attempt = Attempt(delivery="d1", event_id="1-0/decision", type="decision", attempt=n,
                          ts=float(n), outcome="retried", status=500, latency_ms=3.0,
                          next_retry_at=100.0 + n)  # fmt: skip
        await store.record(delivery, attempt, settled=False)
    response = await client.get("/v1/webhooks/a/deliveries?count=1", headers=ADMIN)
    data = await response.json()
    assert response.status == 200, data
    assert data["webhook"] == "a"
    assert data["waiting"] == [
        {"delivery": "d1", "event_id": "1-0/decision", "type": "decision", "attempts": 0}
    ]
    assert [(a["attempt"], a["status"], a["next_retry_at"]) for a in data["attempts"]] == [
        (2, 500, 102.0)
    ]
    for path, status in (
        ("/v1/webhooks/nope/deliveries", 404),
        ("/v1/webhooks/a/deliveries?count=0", 400),
        ("/v1/webhooks/a/deliveries?count=x", 400),
    ):
        response = await client.get(path, headers=ADMIN)
        assert response.status == status, (path, await response.text())


async def test_only_an_admin_sees_or_changes_webhooks(client: TestClient) -> None:
    for who in ("vera", "ed"):
        assert (await client.get("/v1/webhooks", headers=auth(who))).status == 403
        response = await client.post(
            "/v1/webhooks",
            json={"name": "x", "url": "http://h/", "events": ["*"]},
            headers=auth(who),
        )
        assert response.status == 403


async def test_the_cli_verbs(
    client: TestClient,
    gateway: Gateway,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """abgate webhooks add|list|deliveries|remove over real HTTP (the CLI runs in a thread:
    its client blocks)."""
    url = f"http://127.0.0.1:{client.server.port}"

    async def abgate(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, [*args, "--url", url])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    monkeypatch.setenv("ABGATE_TOKEN", token_of("carol"))
    code, out = await abgate(
        "webhooks", "add", "pager", "http://127.0.0.1:9/hook", "--events", "decision",
        "alert.srm", "--reason", "on call",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["secret"].startswith(SECRET_PREFIX)
    code, out = await abgate("webhooks", "list")
    assert code == 0 and "pager" in out and "decision,alert.srm" in out, out
    # the endpoint is the receiver's address, never the gateway's (the CLI's --url): a
    # positional URL once shared --url's name, and the admin token went to the receiver
    (stored,) = await WebhookStore(gateway.redis, gateway.keys).all()
    assert stored.url == "http://127.0.0.1:9/hook", stored
    code = await asyncio.to_thread(
        main, ["--url", url, "webhooks", "add", "pager2", "http://127.0.0.1:9/other"]
    )
    added = capsys.readouterr()
    assert code == 0, added
    urls = {w.name: w.url for w in await WebhookStore(gateway.redis, gateway.keys).all()}
    assert urls["pager2"] == "http://127.0.0.1:9/other", urls
    code, out = await abgate("webhooks", "remove", "pager2", "--reason", "done")
    assert code == 0, out
    assert SECRET_PREFIX not in out
    code, out = await abgate("webhooks", "deliveries", "pager")
    assert code == 0 and "0 waiting" in out, out
    code, out = await abgate("webhooks", "add", "pager", "http://h/")
    assert code == 2 and "'pager' exists" in out, out  # one line, no traceback
    code, out = await abgate("webhooks", "remove", "pager", "--reason", "done")
    assert code == 0 and json.loads(out)["removed"] is True, out
    assert await WebhookStore(gateway.redis, gateway.keys).all() == []
