"""Gating through the registrar (real Redis, real child processes): a never-ending version
fails at the deadline, a version is gated by one process and a bounded number of times, a
stopping process lets another take over, and no result names a path on the server."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import orjson
import pytest

from gateway.models.gate_claims import MAX_GATE_RUNS, Claim, GateClaims
from gateway.models.gates import failed_gates
from gateway.models.registrar import Registrar
from tests.models.hostile import gate_processes, store_never_ending

# An absolute path: a '/' led run of at least two components.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[\w.~-]+/")


async def audit_reasons(registrar: Registrar, version: str) -> list[tuple[str, str]]:
    entries = await registrar.store.redis.xrange(registrar.store.keys.audit)
    decoded = [orjson.loads(fields[b"e"]) for _, fields in entries]
    return [(e["actor"], e["reason"]) for e in decoded if e.get("model") == version]


def assert_discloses_nothing(text: str) -> None:
    assert not ABSOLUTE_PATH.search(text), text
    assert not re.search(rf"\b{os.getpid()}\b", text), text


async def runs(registrar: Registrar, version: str) -> Any:
    return await registrar.store.redis.hget(registrar.claims.runs_key, version)


async def test_a_never_ending_version_fails_at_the_deadline(registrar: Registrar) -> None:
    await store_never_ending(registrar, "forever-v1")
    card = await registrar.gate("forever-v1", None, "bob")
    assert card.state == "failed" and not card.usable
    (failure,) = failed_gates(card.gates)
    assert failure == (
        "sanity: gates did not finish within 3 s (ABGATE_GATE_TIMEOUT_S); "
        "the gate process was stopped"
    )
    assert await audit_reasons(registrar, "forever-v1") == [
        ("bob", "registered"),
        ("bob", f"gates failed: {failure}"),
    ]
    assert gate_processes([os.getpid()]) == []
    # Recorded: the claim is given up and the runs forgotten; nobody gates it again.
    assert await runs(registrar, "forever-v1") is None
    assert (await registrar.claims.claim("forever-v1", 60)).outcome == "done"
    assert (await registrar.gate("forever-v1", None, "gate-takeover")).gates == card.gates


async def test_a_version_another_process_gates_is_left_to_it(registrar: Registrar) -> None:
    await store_never_ending(registrar, "forever-v1", age_s=600)
    other = GateClaims(registrar.store.redis, registrar.store.keys)
    assert (await other.claim("forever-v1", 60)).outcome == "claimed"
    card = await registrar.gate("forever-v1", None, "gate-takeover")
    assert card.state == "gating" and card.gates is None
    assert gate_processes([os.getpid()]) == []


async def test_a_version_whose_runs_are_used_up_fails_without_another(
    registrar: Registrar,
) -> None:
    await store_never_ending(registrar, "forever-v1", age_s=600)
    dead = GateClaims(registrar.store.redis, registrar.store.keys)
    for _ in range(MAX_GATE_RUNS):  # each process that gated it stopped before its results
        assert (await dead.claim("forever-v1", 60)).outcome == "claimed"
        await dead.release("forever-v1", False)
    card = await registrar.gate("forever-v1", None, "gate-takeover")
    assert card.state == "failed"
    assert failed_gates(card.gates) == [
        f"gate_runs: gates started {MAX_GATE_RUNS} times and never finished (each time the "
        "gateway process running them stopped); not started again"
    ]
    assert gate_processes([os.getpid()]) == []


async def test_a_stopping_process_kills_its_gates_and_lets_another_take_over(
    registrar: Registrar,
) -> None:
    await store_never_ending(registrar, "forever-v1")
    registrar.gate_timeout_s = 300.0
    gating = asyncio.create_task(registrar.gate("forever-v1", None, "bob"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (children := gate_processes([os.getpid()])):
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    gating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gating
    assert not set(children) & set(gate_processes([os.getpid()]))
    assert (await registrar.store.get("forever-v1")).state == "gating"
    other = GateClaims(registrar.store.redis, registrar.store.keys)
    assert await other.claim("forever-v1", 60) == Claim("claimed", 2)


async def test_gate_results_name_no_server_path(registrar: Registrar) -> None:
    card = await store_never_ending(registrar, "broken-v1")
    registrar.artifacts.path(card.sha256).write_bytes(b"bytes changed on disk")
    gated = await registrar.gate("broken-v1", None, "bob")
    (failure,) = failed_gates(gated.gates)
    assert failure.startswith("integrity: the stored file of broken-v1: sha256 "), failure
    assert_discloses_nothing(orjson.dumps(gated.to_json()).decode())
    for _, reason in await audit_reasons(registrar, "broken-v1"):
        assert_discloses_nothing(reason)
