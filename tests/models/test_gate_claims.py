"""One gateway process gates a version at a time, and a bounded number of times (real Redis)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gateway.models.gate_claims import MAX_GATE_RUNS, Claim, GateClaims
from gateway.models.registrar import Registrar
from tests.models.hostile import store_never_ending


def two_processes(registrar: Registrar) -> tuple[GateClaims, GateClaims]:
    store = registrar.store
    return GateClaims(store.redis, store.keys), GateClaims(store.redis, store.keys)


async def test_one_process_gates_and_the_others_wait(registrar: Registrar) -> None:
    await store_never_ending(registrar, "v1")
    a, b = two_processes(registrar)
    assert await a.claim("v1", 60) == Claim("claimed", 1)
    assert (await b.claim("v1", 60)).outcome == "held"
    assert (await a.claim("v1", 60)).outcome == "held"  # not twice in one process either
    await b.release("v1", False)  # not its claim: nothing changes
    assert (await b.claim("v1", 60)).outcome == "held"
    await a.release("v1", False)  # a stopped before its results: another may take over
    assert await b.claim("v1", 60) == Claim("claimed", 2)
    await b.release("v1", True)  # results recorded: the runs are forgotten
    assert await a.claim("v1", 60) == Claim("claimed", 1)


async def test_runs_are_bounded(registrar: Registrar) -> None:
    await store_never_ending(registrar, "v1")
    a, b = two_processes(registrar)
    for run in range(1, MAX_GATE_RUNS + 1):
        assert await (a if run % 2 else b).claim("v1", 60) == Claim("claimed", run)
        await (a if run % 2 else b).release("v1", False)
    assert await a.claim("v1", 60) == Claim("exhausted", MAX_GATE_RUNS)
    assert await b.claim("v1", 60) == Claim("exhausted", MAX_GATE_RUNS)


async def test_the_claim_of_a_process_that_died_expires(registrar: Registrar) -> None:
    await store_never_ending(registrar, "v1")
    a, b = two_processes(registrar)
    assert await a.claim("v1", 0.05) == Claim("claimed", 1)  # ... and a dies
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (claim := await b.claim("v1", 60)).outcome == "held":
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    assert claim == Claim("claimed", 2)


async def test_a_version_no_longer_gating_is_never_claimed(registrar: Registrar) -> None:
    await store_never_ending(registrar, "v1")
    a, _ = two_processes(registrar)
    await registrar.store.update("v1", lambda c: replace(c, state="failed"), "t", "x")
    assert (await a.claim("v1", 60)).outcome == "done"
    assert (await a.claim("nope", 60)).outcome == "done"
