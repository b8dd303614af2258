"""The experiment lifecycle and production over HTTP: create → edit → start → promote or stop →
archive; production set, rolled back, frozen. Each step one audited change; each bad step a
clear 4xx that changes nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.http.state import Gateway
from tests.tokens import auth

AUTH = auth("alice")


def _new(key: str = "next", lo: float = 0.0, hi: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "namespace_range": [lo, hi],
        "min_units_per_arm": 100,
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "candidate", "model_version": "cand-v2", "weight": 0.5},
        ],
        **extra,
    }


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status == status, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def _error(response: Any, status: int, text: str) -> None:
    assert response.status == status, await response.text()
    error = (await response.json())["error"]
    message = f"{error.get('where', '')}: {error['message']}"
    assert text in message, message


async def _stop_all(client: TestClient) -> None:
    for key in ("better", "worse", "aa"):
        await _ok(
            await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
        )


async def _users_served(client: TestClient, n: int = 200) -> dict[str, int]:
    served: dict[str, int] = {}
    for i in range(n):
        page = await _ok(
            await client.post(
                "/v1/search", json={"user_id": f"u{i}", "query": "tent", "candidates": [1, 2, 3]}
            )
        )
        name = page["assignments"][0]["variant"] if page["assignments"] else "production"
        served[name] = served.get(name, 0) + 1
    return served


async def test_create_edit_start_promote_archive(client: TestClient, gateway: Gateway) -> None:
    await _stop_all(client)
    assert await _users_served(client) == {"production": 200}  # concluded experiments route nobody
    created = await _ok(await client.post("/v1/experiments", json=_new(), headers=AUTH), 201)
    assert created["experiment"]["status"] == "draft"
    assert await _users_served(client, 50) == {"production": 50}  # a draft routes nobody
    edited = await _ok(
        await client.patch("/v1/experiments/next", json={"mde": 0.1, "coverage": 0.5}, headers=AUTH)
    )
    assert edited["experiment"]["mde"] == 0.1
    await _ok(await client.post("/v1/experiments/next/start", headers=AUTH))
    assert set(await _users_served(client)) == {"production", "control", "candidate"}
    # A running experiment's test is fixed: only weights and coverage may change.
    await _error(
        await client.patch("/v1/experiments/next", json={"mde": 0.2}, headers=AUTH), 409, "running"
    )
    promoted = await _ok(
        await client.post("/v1/experiments/next/promote", json={"reason": "wins"}, headers=AUTH)
    )
    assert promoted["production"] == "cand-v2"
    assert (promoted["experiment"]["status"], promoted["experiment"]["outcome"]) == (
        "concluded",
        "promoted",
    )
    assert gateway.router.config.production == "cand-v2"
    assert await _users_served(client, 50) == {"production": 50}
    production = await _ok(await client.get("/v1/production", headers=auth("vera")))
    latest = production["history"][0]
    assert (latest["from"], latest["to"], latest["experiment"], latest["actor"]) == (
        "prod-v1",
        "cand-v2",
        "next",
        "alice",
    )
    # Promoting a concluded experiment is refused, and changes nothing.
    version = gateway.router.version
    await _error(
        await client.post("/v1/experiments/next/promote", json={"reason": "x"}, headers=AUTH),
        409,
        "not running",
    )
    assert gateway.router.version == version
    await _ok(await client.post("/v1/experiments/next/archive", headers=AUTH))
    data = await _ok(await client.get("/v1/experiments/next", headers=auth("vera")))
    assert data["status"] == "archived" and data["outcome"] == "promoted"


async def test_production_rollback_and_history(client: TestClient, gateway: Gateway) -> None:
    await _ok(
        await client.put(
            "/v1/production", json={"version": "cand-v2", "reason": "ship"}, headers=AUTH
        )
    )
    back = await _ok(
        await client.post("/v1/production/rollback", json={"reason": "pages slow"}, headers=AUTH)
    )
    assert back["production"] == "prod-v1" and gateway.router.config.production == "prod-v1"
    history = (await _ok(await client.get("/v1/production", headers=auth("vera"))))["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("cand-v2", "prod-v1"),
        ("prod-v1", "cand-v2"),
        (None, "prod-v1"),
    ]
    assert "pages slow" in history[0]["reason"]
    entry = (await _ok(await client.get("/v1/audit?count=1", headers=auth("vera"))))["entries"][0]
    assert entry["diff"] == [{"path": "production", "old": "cand-v2", "new": "prod-v1"}]


async def _experiments_served(client: TestClient, n: int = 200) -> set[str]:
    seen: set[str] = set()
    for i in range(n):
        page = await _ok(
            await client.post(
                "/v1/search", json={"user_id": f"u{i}", "query": "tent", "candidates": [1, 2, 3]}
            )
        )
        seen |= {a["experiment"] for a in page["assignments"]}
    return seen


async def test_freeze_pauses_everything_blocks_starts_and_unfreeze_resumes(
    client: TestClient, gateway: Gateway
) -> None:
    await _error(await client.post("/v1/freeze", json={}, headers=AUTH), 400, "$.reason")
    hand = {"reason": "odd numbers"}
    await _ok(await client.post("/v1/experiments/aa/pause", json=hand, headers=AUTH))
    frozen = await _ok(await client.post("/v1/freeze", json={"reason": "peak"}, headers=AUTH))
    assert frozen["frozen"] is True
    assert [
        (e.key, e.status, e.outcome, e.paused_by) for e in gateway.router.config.experiments
    ] == [
        ("better", "paused", "none", "freeze"),
        ("worse", "paused", "none", "freeze"),
        ("aa", "paused", "none", "hand"),
    ]
    assert await _users_served(client, 50) == {"production": 50}
    await _ok(await client.post("/v1/experiments", json=_new(), headers=AUTH), 201)
    await _error(await client.post("/v1/experiments/next/start", headers=AUTH), 409, "frozen")
    await _error(
        await client.post("/v1/experiments/better/resume", json=hand, headers=AUTH),
        409,
        "'better' cannot resume while experiments are frozen",
    )
    await _ok(await client.delete("/v1/freeze", headers=AUTH))
    statuses = [(e.key, e.status) for e in gateway.router.config.experiments]
    assert statuses[:3] == [("better", "running"), ("worse", "running"), ("aa", "paused")]
    assert await _experiments_served(client) == {"better", "worse"}
    await _error(
        await client.post("/v1/experiments/next/start", headers=AUTH), 409, "overlaps running"
    )
    entries = (await _ok(await client.get("/v1/audit?count=4", headers=auth("vera"))))["entries"]
    assert [e["reason"] for e in entries] == ["unfreeze", "created", "freeze: peak", "odd numbers"]


async def test_pause_and_resume_an_experiment(client: TestClient, gateway: Gateway) -> None:
    url = "/v1/experiments/better"
    version = gateway.router.version
    for path, body, status, text in [
        ("pause", None, 400, "$.reason"),
        ("pause", {}, 400, "$.reason"),
        ("pause", {"reason": "x", "colour": 1}, 400, "colour"),
        ("resume", {"reason": "x"}, 409, "'better' is running (outcome 'none'); only a paused"),
    ]:
        response = await client.post(f"{url}/{path}", json=body, headers=AUTH)
        await _error(response, status, text)
    await _error(
        await client.post("/v1/experiments/ghost/pause", json={"reason": "x"}, headers=AUTH),
        404,
        "'ghost' does not exist",
    )
    forbidden = await client.post(f"{url}/pause", json={"reason": "x"}, headers=auth("vera"))
    assert forbidden.status == 403
    assert gateway.router.version == version  # every refusal changed nothing

    paused = await _ok(await client.post(f"{url}/pause", json={"reason": "bad feed"}, headers=AUTH))
    view = paused["experiment"]
    assert (view["status"], view["paused_by"], view["paused_s"]) == ("paused", "hand", 0.0)
    assert isinstance(view["paused_at"], float)
    assert {d["path"] for d in paused["diff"]} == {
        "experiments['better'].status",
        "experiments['better'].paused_at",
        "experiments['better'].paused_by",
    }
    assert await _experiments_served(client) == {"worse", "aa"}  # better's users: production
    listed = await _ok(await client.get("/v1/experiments", headers=auth("vera")))
    assert [e["status"] for e in listed["experiments"] if e["key"] == "better"] == ["paused"]
    shown = await _ok(await client.get(url, headers=auth("vera")))
    assert (shown["status"], shown["paused_at"]) == ("paused", view["paused_at"])
    await _error(
        await client.post(f"{url}/pause", json={"reason": "x"}, headers=AUTH),
        409,
        "'better' is paused (outcome 'none'); only a running experiment can be paused",
    )
    await _error(await client.post(f"{url}/archive", headers=AUTH), 409, "stop it before archiving")
    resumed = await _ok(await client.post(f"{url}/resume", json={"reason": "fixed"}, headers=AUTH))
    view = resumed["experiment"]
    assert (view["status"], view["paused_at"], view["paused_by"]) == ("running", None, None)
    assert view["paused_s"] >= 0.0
    assert await _experiments_served(client) == {"better", "worse", "aa"}
    entries = (await _ok(await client.get("/v1/audit?count=5", headers=auth("vera"))))["entries"]
    changes = [(e["reason"], e["diff"][0]["path"]) for e in entries if e["actor"] == "alice"]
    assert changes[:2] == [
        ("fixed", "experiments['better'].paused_at"),
        ("bad feed", "experiments['better'].paused_at"),
    ]
    # A paused experiment can still be stopped: that concludes it.
    await _ok(await client.post(f"{url}/pause", json={"reason": "again"}, headers=AUTH))
    stopped = await _ok(await client.post(f"{url}/stop", json={"reason": "done"}, headers=AUTH))
    assert (stopped["experiment"]["status"], stopped["experiment"]["outcome"]) == (
        "concluded",
        "stopped",
    )


async def test_bad_lifecycle_steps_are_refused_and_change_nothing(
    client: TestClient, gateway: Gateway
) -> None:
    version = gateway.router.version
    cases = [
        (
            client.post("/v1/experiments", json=_new(key="Bad Key"), headers=AUTH),
            400,
            "$.key: expected `str` matching regex '^[a-z0-9][a-z0-9_.-]{0,63}$', got 'Bad Key'",
        ),
        (client.post("/v1/experiments", json=_new(key="better"), headers=AUTH), 409, "exists"),
        (
            client.post("/v1/experiments", json=_new(status="running"), headers=AUTH),
            422,
            "created as a draft",
        ),
        (
            client.post("/v1/experiments", json=_new(colour=1), headers=AUTH),
            400,
            "$.colour: unknown field",
        ),
        (client.post("/v1/experiments/ghost/start", headers=AUTH), 404, "ghost"),
        (client.post("/v1/experiments/better/start", headers=AUTH), 409, "only a draft"),
        (client.post("/v1/experiments/better/stop", json={}, headers=AUTH), 400, "$.reason"),
        (client.post("/v1/experiments/better/stop", json={"reason": "x"}), 401, ""),
        (
            client.post(
                "/v1/experiments/better/promote",
                json={"variant": "ghost", "reason": "x"},
                headers=AUTH,
            ),
            422,
            "'ghost' is not a variant",
        ),
        (
            client.put("/v1/production", json={"version": "nope-v9", "reason": "x"}, headers=AUTH),
            422,
            "'nope-v9': is not registered",
        ),
        (client.put("/v1/production", json={"version": "cand-v2"}, headers=AUTH), 400, "$.reason"),
        (
            client.post("/v1/production/rollback", json={"reason": "x"}, headers=AUTH),
            409,
            "no earlier",
        ),
        (
            client.patch("/v1/experiments/better", json={"status": "running"}, headers=AUTH),
            422,
            "lifecycle",
        ),
    ]
    for request, status, text in cases:
        await _error(await request, status, text)
    assert gateway.router.version == version
    # Overlapping namespace ranges: the draft is fine, starting it is not.
    await _ok(await client.post("/v1/experiments", json=_new(key="wide"), headers=AUTH), 201)
    await _error(await client.post("/v1/experiments/wide/start", headers=AUTH), 409, "overlaps")
    assert gateway.router.config.experiment("wide").status == "draft"


async def test_a_rollback_to_any_earlier_production(client: TestClient, gateway: Gateway) -> None:
    for shipped in ("cand-v2", "worse-v0"):
        await _ok(
            await client.put(
                "/v1/production", json={"version": shipped, "reason": "ship"}, headers=AUTH
            )
        )
    version = gateway.router.version
    for body, status, text in (
        ({"reason": "x", "to": "ghost-v1"}, 409, "'ghost-v1' was never production"),
        ({"reason": "x", "to": "worse-v0"}, 409, "'worse-v0' is production already"),
        ({"reason": "x", "to": 5}, 400, "$.to: expected `str | null`, got 5"),
        ({"to": "prod-v1"}, 400, "$.reason"),
    ):
        response = await client.post("/v1/production/rollback", json=body, headers=AUTH)
        await _error(response, status, text)
    assert gateway.router.version == version
    back = await _ok(
        await client.post(
            "/v1/production/rollback", json={"reason": "bad week", "to": "prod-v1"}, headers=AUTH
        )
    )
    assert back["production"] == "prod-v1" == gateway.router.config.production
    history = (await _ok(await client.get("/v1/production", headers=auth("vera"))))["history"]
    assert (history[0]["from"], history[0]["to"]) == ("worse-v0", "prod-v1")
    assert history[0]["reason"] == "rollback from worse-v0 to prod-v1: bad week"
    # Without "to": the previous one, as before.
    again = await client.post("/v1/production/rollback", json={"reason": "x"}, headers=AUTH)
    assert (await _ok(again))["production"] == "worse-v0"


async def test_an_experiment_evaluated_before_its_first_user_reads_back(
    client: TestClient, gateway: Gateway
) -> None:
    """The worker's evaluation of a running experiment with no users yet (a new one, or every
    one right after a restore): a per-search metric has no mean (0 / 0), which reads back as
    null, not as a 500 on every read of the experiment."""
    from gateway.worker.evaluate import evaluate_all

    experiment = {
        "key": "fresh",
        "primary_metric": "click_through_rate",
        "variants": [
            {"name": "control", "model_version": "prod-v1", "weight": 0.5},
            {"name": "treatment", "model_version": "cand-v2", "weight": 0.5},
        ],
    }
    for key in ("better", "worse", "aa"):  # room for it: the namespace is full
        await client.post(f"/v1/experiments/{key}/stop", json={"reason": "x"}, headers=AUTH)
    assert (await client.post("/v1/experiments", json=experiment, headers=AUTH)).status == 201
    assert (await client.post("/v1/experiments/fresh/start", headers=AUTH)).status == 200
    records = await evaluate_all(gateway.redis, gateway.keys, gateway.store)
    assert "fresh" in {r.experiment for r in records}
    response = await client.get("/v1/experiments/fresh", headers=auth("vera"))
    assert response.status == 200, await response.text()
    evaluation = (await response.json())["last_evaluation"]
    assert evaluation["means"] == {"control": None, "treatment": None}
    assert evaluation["units"] == {"control": 0, "treatment": 0}
