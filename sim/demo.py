"""`make run`'s story: model versions moving through their life on a live system, printed
step by step while simulated shoppers search and buy.

1. Production is ``prod-v1`` and no experiment runs.
2. ``cand-v2`` is registered while serving; its gates run and are printed.
3. An experiment (``configs/demo/ranker-cand-v2.toml``) is created and started; the worker
   promotes the candidate when it wins: production becomes ``cand-v2``.
4. ``worse-v0`` is registered and fails its offline gate. The demo forces it through with an
   audited admin override and runs it against the new production on the same namespace;
   the worker rolls it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.client import AdminClient, ApiError
from gateway.control.actors import DECISION_LOOP
from gateway.errors import GatewayError
from gateway.processes import ProcessGroup
from gateway.settings import ROOT
from sim.shoppers import ShopperTraffic, progress_line

DEMO_EXPERIMENTS = ROOT / "configs" / "demo"


def what_next(base: str, token: str) -> list[str]:
    """The CLI lines the story suggests once it is told: README.md's "What next", whose
    ``abgate`` lines the README's cheat-sheet test runs."""
    return [
        "source .venv/bin/activate",
        f"export ABGATE_URL={base} ABGATE_TOKEN={token}",
        "abgate experiments list",
        "abgate experiments show ranker-cand-v2",
        "abgate audit --subject experiment:ranker-cand-v2",
    ]


def evidence(arm: dict[str, Any]) -> str:
    """The estimate, its interval and the p-value the decision uses, as one phrase."""
    low, high = arm["ci_low"], arm["ci_high"]
    if arm.get("scale") == "absolute":
        size = f"difference {arm['estimate']:+.4g}"
        interval = f"[{_end(low, '+.4g', '-inf')}, {_end(high, '+.4g', 'inf')}]"
    else:
        size = f"lift {arm['estimate']:+.1%}"
        interval = f"[{_end(low, '+.1%', '-inf')}, {_end(high, '+.1%', 'inf')}]"
    if arm.get("p_boundary") is not None:
        return f"{size} {interval}, p={arm['p_value']:.3g} (boundary {arm['p_boundary']:.2g})"
    p = arm.get("p_adjusted", arm["p_value"])
    return f"{size} {interval}, p={p:.3f}"


def _end(x: float | None, spec: str, open_end: str) -> str:
    """An interval's end; JSON carries an infinite one as null."""
    return open_end if x is None else format(x, spec)


def estimate_line(data: dict[str, Any]) -> str:
    key = data["key"]
    evaluation = data.get("last_evaluation")
    state = data["outcome"] if data["status"] == "concluded" else data["status"]
    if not (evaluation and evaluation["arms"]):
        why = _waiting(evaluation["decision"]) if evaluation else ""
        return f"{key}: {state}, waiting for data{why}"
    users = sum(evaluation["units"].values())
    line = f"{key}: {state}, users {users}, {evidence(evaluation['arms'][0])}"
    return line + _waiting(evaluation["decision"])


def _waiting(decision: dict[str, Any]) -> str:
    """Why no decision yet, in words: what blocks it, or that there is no difference yet."""
    if decision["action"] != "continue":
        return ""
    if decision.get("blocked_by"):
        return f"  (blocked: {'; '.join(decision['reasons'])})"
    return f"  ({decision['reasons'][-1]})" if decision["reasons"] else ""


@dataclass
class Story:
    client: AdminClient
    demo_models: Path
    group: ProcessGroup
    gateways: int
    progress_every_s: float
    stop: asyncio.Event
    traffic: ShopperTraffic
    started: float = 0.0  # loop time the shoppers started
    token_shown: str = "<your admin token>"  # the admin token, as the story may print it
    say: Callable[[str], None] = lambda line: print(line, flush=True)

    def progress(self) -> str:
        return progress_line(self.traffic.stats, asyncio.get_running_loop().time() - self.started)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self.client.request, method, path, body)

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def register(self, version: str) -> dict[str, Any]:
        """Register a demo version, wait for its gates, print them."""
        directory = self.demo_models / version
        card = dict(await asyncio.to_thread(_read_json, directory / "card.json"))
        await asyncio.to_thread(self.client.register_model, card, directory / "model.onnx")
        while not self.stop.is_set():
            data: dict[str, Any] = await self.call("GET", f"/v1/models/{version}")
            if data["state"] != "gating":
                self.say(f"   gates of {version}: {data['state'].upper()}")
                for result in data["gates"]["results"]:
                    mark = "pass" if result["passed"] else "FAIL"
                    self.say(f"     [{mark}] {result['gate']}: {result['detail']}")
                return data
            await self.pause(0.3)
        return {}

    async def loaded_everywhere(self, version: str) -> None:
        while not self.stop.is_set():
            data = await self.call("GET", f"/v1/models/{version}")
            if len(data["loaded_by"]) >= self.gateways:
                self.say(
                    f"   {version} loaded and warm in {len(data['loaded_by'])} gateway processes"
                )
                return
            await self.pause(0.3)

    async def run_experiment(self, file: Path) -> dict[str, Any]:
        """Create and start an experiment, then follow it until the worker decides."""
        experiment = _toml(file)
        key = experiment["key"]
        await self.call("POST", "/v1/experiments", experiment)
        self.say(f"   experiment {key} created as a draft (from {file.relative_to(ROOT)})")
        await self.call("POST", f"/v1/experiments/{key}/start", {"reason": "demo"})
        self.say(f"   experiment {key} started: half of the shoppers see each variant")
        while not self.stop.is_set():
            await self.pause(self.progress_every_s)
            self.group.check()
            self.say(self.progress())
            try:
                data = await self.call("GET", f"/v1/experiments/{key}")
            except GatewayError as exc:
                self.say(f"        (gateway not answering: {exc})")
                continue
            self.say(f"        {estimate_line(data)}")
            if data["status"] == "concluded":
                audit = (await self.call("GET", "/v1/audit?count=50"))["entries"]
                for entry in audit:
                    if entry["actor"] == DECISION_LOOP and any(
                        key in change["path"] for change in entry["diff"]
                    ):
                        self.say(f"*** DECISION (config v{entry['version']}): {entry['reason']}")
                        for change in entry["diff"]:
                            self.say(f"      {change['path']}: {change['old']} -> {change['new']}")
                        break
                return dict(data)
        return {}

    async def tell(self) -> None:
        production = await self.call("GET", "/v1/production")
        self.say(f"== 1. production is {production['production']}; no experiment runs")
        await self.pause(3 * self.progress_every_s)
        self.say("== 2. registering cand-v2 while serving (POST /v1/models) ...")
        if not await self.register("cand-v2"):
            return
        await self.loaded_everywhere("cand-v2")
        self.say("== 3. an experiment: cand-v2 against production")
        first = await self.run_experiment(DEMO_EXPERIMENTS / "ranker-cand-v2.toml")
        if not first:
            return
        production = await self.call("GET", "/v1/production")
        self.say(f"   production is now {production['production']} (outcome {first['outcome']})")
        self.say("== 4. registering worse-v0, a query-blind popularity ranker ...")
        worse = await self.register("worse-v0")
        if not worse:
            return
        if not worse["usable"]:
            try:
                await self.call(
                    "POST", "/v1/experiments", _toml(DEMO_EXPERIMENTS / "ranker-worse-v0.toml")
                )
                await self.call("POST", "/v1/experiments/ranker-worse-v0/start", {})
            except ApiError as exc:
                self.say(f"   starting an experiment with it is refused: {exc}")
            self.say("   forcing it through: an admin override, with a reason (audited)")
            await self.call(
                "POST", "/v1/models/worse-v0/override", {"reason": "demo: show a rollback"}
            )
            await self.loaded_everywhere("worse-v0")
            await self.call("POST", "/v1/experiments/ranker-worse-v0/start", {"reason": "demo"})
            self.say("   experiment ranker-worse-v0 started on the namespace ranker-cand-v2 freed")
            second = await self._follow("ranker-worse-v0")
        else:
            second = await self.run_experiment(DEMO_EXPERIMENTS / "ranker-worse-v0.toml")
        if second:
            production = await self.call("GET", "/v1/production")
            self.say(
                f"   ranker-worse-v0: {second['outcome']}; production stays {production['production']}"
            )
            self.say("== the lifecycle is done; shoppers keep searching (Ctrl-C to stop)")
            base = self.client.base_url
            self.say(
                f"== what next: the dashboard, {base}/dashboard (sign in with the admin token)"
            )
            self.say("   and the CLI, in another terminal (README.md's cheat-sheet has more):")
            for line in what_next(base, self.token_shown):
                self.say(f"     {line}")

    async def _follow(self, key: str) -> dict[str, Any]:
        while not self.stop.is_set():
            await self.pause(self.progress_every_s)
            self.group.check()
            self.say(self.progress())
            data = await self.call("GET", f"/v1/experiments/{key}")
            self.say(f"        {estimate_line(data)}")
            if data["status"] == "concluded":
                return dict(data)
        return {}


def _read_json(path: Path) -> Any:
    import json

    return json.loads(path.read_text())


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


async def run_story(
    base: str,
    client: AdminClient,
    demo_models: Path,
    group: ProcessGroup,
    gateways: int,
    seed: int,
    concurrency: int,
    progress_every_s: float,
    exit_at_end: bool,
    stop: asyncio.Event,
    token_shown: str = "<your admin token>",
) -> None:
    traffic = ShopperTraffic(base, seed=seed, concurrency=concurrency)
    shopping = asyncio.create_task(traffic.run(stop))
    story = Story(client, demo_models, group, gateways, progress_every_s, stop, traffic)
    story.token_shown = token_shown
    story.started = asyncio.get_running_loop().time()
    try:
        await story.tell()
        if exit_at_end:
            stop.set()
        while not stop.is_set():
            await story.pause(progress_every_s * 5)
            group.check()
            story.say(story.progress())
    finally:
        stop.set()
        await shopping
