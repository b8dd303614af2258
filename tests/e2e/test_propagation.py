"""A config change reaches both gateway processes within one second (invariant 4)."""

from __future__ import annotations

import time

import aiohttp

from tests.e2e.conftest import System
from tests.tokens import auth


async def _versions_by_pid(
    session: aiohttp.ClientSession, base: str, attempts: int
) -> dict[int, int]:
    seen: dict[int, int] = {}
    for _ in range(attempts):
        # A fresh connection each time so that SO_REUSEPORT spreads us over both processes.
        async with session.get(base + "/healthz", headers={"Connection": "close"}) as response:
            data = await response.json()
        seen[data["pid"]] = data["config_version"]
    return seen


async def test_both_processes_serve_the_new_config_within_one_second(system: System) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        before = await _versions_by_pid(session, system.base_url, 200)
        assert len(before) == 2, f"expected two gateway processes, saw {before}"
        old_version = max(before.values())
        async with session.patch(
            system.base_url + "/v1/experiments/better",
            json={"coverage": 0.5, "reason": "propagation test"},
            headers={"Authorization": f"Bearer {system.settings.admin_token}"},
        ) as response:
            assert response.status == 200, await response.text()
            new_version = (await response.json())["version"]
        changed_at = time.monotonic()
        assert new_version == old_version + 1
        latest: dict[int, int] = {}
        while time.monotonic() - changed_at < 1.0:
            latest |= await _versions_by_pid(session, system.base_url, 10)
            if len(latest) == 2 and all(v == new_version for v in latest.values()):
                break
        else:
            raise AssertionError(
                f"not every process serves version {new_version} after 1 s: {latest}"
            )
        # ... and it is really the new config that they serve, not just the number.
        for _ in range(20):
            async with session.get(
                system.base_url + "/v1/experiments", headers=auth("vera")
            ) as response:
                data = await response.json()
            better = next(e for e in data["experiments"] if e["key"] == "better")
            assert better["coverage"] == 0.5
