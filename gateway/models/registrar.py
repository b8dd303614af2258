"""Registering a version and running its gates: the steps behind ``POST /v1/models``,
``abgate models register`` and the seeding of an empty store (:mod:`gateway.models.seed`).

Registration is synchronous and refuses what cannot work (422 naming the input: a file
that does not load, a signature not as declared; 409: the id taken by other bytes). The
gates run afterwards in a child process under a deadline (:mod:`gateway.models.gate_process`),
by one gateway process at a time and a bounded number of times
(:mod:`gateway.models.gate_claims`); their results land in the card and the audit stream.
No error or result names a path on this server (:mod:`gateway.models.redact`).

The gates run on a dataset chosen when the run starts: the one a re-gate names
(``POST /v1/models/{version}/regate``), else the registered dataset the card names
(``dataset.id``), else the deployment's default (the gate policy's ``dataset``), else the
configured evaluation file (``ABGATE_EVAL_FILE``). Their thresholds are the gate policy in the
store, read at the same moment (:mod:`gateway.models.policy_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from gateway.config import RoutingConfig
from gateway.config.uses import version_uses
from gateway.errors import ConfigError, Conflict, NotFound, RequestError
from gateway.inference.registry import OnnxRanker, sha256_file
from gateway.inference.session import SessionOptions
from gateway.models.artifacts import ArtifactStore
from gateway.models.card import Declaration, ModelCard
from gateway.models.dataset_store import DatasetInfo, DatasetStore
from gateway.models.gate_cache import GateCache, job_key
from gateway.models.gate_claims import GateClaims
from gateway.models.gate_policy import GatePolicy
from gateway.models.gate_process import run_in_child
from gateway.models.gate_runner import GateJob, failure
from gateway.models.gates import describe_lacking, failed_gates, lacking_in
from gateway.models.policy_store import GatePolicyStore
from gateway.models.redact import redact_paths, redact_record
from gateway.models.store import ModelStore

log = logging.getLogger("abgate.models")

# The default of ABGATE_GATE_TIMEOUT_S (gateway.settings).
GATE_TIMEOUT_S: Final = 300.0
# A gate claim outlives the deadline by this much: the time to stop the child and record.
CLAIM_MARGIN_S: Final = 30.0
# How long releasing a claim may take while the process stops.
RELEASE_TIMEOUT_S: Final = 1.0
# Earlier gate results a card keeps (each re-gate adds one; the audit trail keeps them all).
MAX_GATES_HISTORY: Final = 20


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset a gate run uses and why: ``regate``, ``card``, ``policy`` or ``file``."""

    path: Path
    source: str
    sha256: str | None
    chosen_by: str
    note: str = ""  # e.g. the card names a dataset that is not registered


class Registrar:
    def __init__(
        self,
        store: ModelStore,
        artifacts: ArtifactStore,
        options: SessionOptions,
        policy: GatePolicy,
        eval_path: Path,
        *,
        gate_timeout_s: float = GATE_TIMEOUT_S,
        gate_cache: GateCache | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.options = options
        # ``policy``: the deployment's default, until a policy is set in the store.
        self.policies = GatePolicyStore(store.redis, store.keys, policy)
        self.datasets = DatasetStore(
            store.redis, store.keys, ArtifactStore(artifacts.root / "datasets", ".jsonl")
        )
        self.eval_path = eval_path
        self.gate_timeout_s = gate_timeout_s
        self.gate_cache = gate_cache
        self.claims = GateClaims(store.redis, store.keys)

    def _names(self) -> dict[str, str]:
        """The server paths an error may name, and what a registrant is told instead."""
        return {
            str(self.artifacts.root / "incoming"): "<upload>",
            str(self.datasets.files.root / "incoming"): "<upload>",
            str(self.datasets.files.root / "sha256"): "<dataset store>",
            str(self.artifacts.root / "sha256"): "<model store>",
            str(self.artifacts.root): "<model store>",
            str(self.eval_path): self.eval_path.name,
        }

    async def register(
        self, declaration: Declaration, upload: Path, actor: str, reason: str
    ) -> tuple[ModelCard, bool]:
        """Register the ONNX file at ``upload`` (consumed); (card, whether it is new)."""
        try:
            sha, size, signature = await asyncio.to_thread(self._inspect, declaration, upload)
            existing = await self.store.find(declaration.version)
            if existing is not None:
                return await self._again(existing, sha, actor), False
            await asyncio.to_thread(self.artifacts.commit, upload, sha)
        finally:
            self.artifacts.discard(upload)
        card = ModelCard(
            declaration=declaration,
            sha256=sha,
            size_bytes=size,
            signature=signature,
            registered_by=actor,
            registered_at=time.time(),
        )
        if not await self.store.register(card, actor, reason):
            existing = await self.store.get(declaration.version)  # registered meanwhile
            return await self._again(existing, sha, actor), False
        log.info("registered model %s (sha256 %s, %d bytes)", card.version, sha[:12], size)
        return card, True

    def _inspect(self, declaration: Declaration, path: Path) -> tuple[str, int, dict[str, Any]]:
        sha = sha256_file(path)
        try:
            ranker = OnnxRanker(declaration, path, self.options)  # 422 unless it loads as declared
        except ConfigError as exc:  # onnxruntime's message names the upload's path
            names = self._names() | {str(path): "the uploaded file"}
            raise ConfigError(
                redact_paths(exc.where, names), redact_paths(exc.detail, names)
            ) from None
        return sha, path.stat().st_size, ranker.signature()

    async def _again(self, existing: ModelCard, sha: str, actor: str) -> ModelCard:
        """The same id once more: the same bytes are a no-op (or bring a retired version
        back); other bytes are refused."""
        if existing.sha256 != sha:
            raise Conflict(
                f"model version {existing.version!r} is registered with other bytes (sha256 "
                f"{existing.sha256[:12]}…, this file {sha[:12]}…); a version id is immutable: "
                "register these bytes under a new id"
            )
        if existing.retired:
            return await self.store.update(
                existing.version, lambda c: replace(c, retired=False), actor, "restored"
            )
        return existing

    async def gate(self, version: str, production: str | None, actor: str) -> ModelCard:
        """Run every gate for ``version`` against ``production`` and record the results: in a
        child process, under the deadline, if no other process is gating it and its runs are
        not used up (then it fails instead). Returns the card as it stands after."""
        card = await self.store.get(version)
        if card.state != "gating":
            return card
        claim = await self.claims.claim(version, self.gate_timeout_s + CLAIM_MARGIN_S)
        if claim.outcome in ("held", "done"):
            return await self.store.get(version)
        if claim.outcome == "exhausted":
            record = failure(
                production,
                "gate_runs",
                f"gates started {claim.runs} times and never finished (each time the gateway "
                "process running them stopped); not started again",
                runs=claim.runs,
            )
            return await self._record(version, record, actor)
        try:
            record = await self._run(card, production)
            updated = await self._record(version, record, actor)
        except BaseException:  # cancelled (the process stops) or Redis failed: let another try
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.claims.release(version, False), RELEASE_TIMEOUT_S)
            raise
        await self.claims.release(version, True)
        return updated

    async def _record(self, version: str, record: dict[str, Any], actor: str) -> ModelCard:
        passed = bool(record["passed"])
        reason = "gates passed" if passed else "gates failed: " + "; ".join(failed_gates(record))

        def apply(c: ModelCard) -> ModelCard:
            if c.state != "gating":  # recorded meanwhile (a run that overran its claim)
                return c
            return replace(c, state="passed" if passed else "failed", gates=record)

        updated = await self.store.update(version, apply, actor, reason)
        await self.store.redis.hdel(self.store.keys.gate_datasets, version)
        log.info("model %s: %s", version, reason)
        return updated

    async def _dataset(self, card: ModelCard, dataset: str | None) -> DatasetChoice | str:
        """The dataset this run uses (see the module's docstring), or why there is none."""
        pending = await self.store.redis.hget(self.store.keys.gate_datasets, card.version)
        if pending is not None:
            name = pending.decode() if isinstance(pending, bytes) else str(pending)
            info = await self.datasets.find(name)
            if info is None:
                return f"dataset {name!r}, named for this re-gate, is not registered"
            return self._choice(info, "regate")
        named = card.declaration.dataset.get("id")
        if named and (info := await self.datasets.find(named)) is not None:
            return self._choice(info, "card")
        note = (
            f"the card's dataset {named!r} is not registered (abgate datasets create, then "
            f"abgate models regate {card.version} --dataset {named}); gated on the "
            + ("gate policy's dataset" if dataset is not None else "configured file")
            if named
            else ""
        )
        if dataset is not None:
            info = await self.datasets.find(dataset)
            if info is None:
                return (
                    f"dataset {dataset!r}, the gate policy's default, is not registered; "
                    "register it (POST /v1/datasets) or change the policy"
                )
            return replace(self._choice(info, "policy"), note=note)
        return DatasetChoice(self.eval_path, self.eval_path.name, None, "file", note)

    def _choice(self, info: DatasetInfo, chosen_by: str) -> DatasetChoice:
        return DatasetChoice(self.datasets.path(info), info.id, info.sha256, chosen_by)

    async def _run(self, card: ModelCard, production: str | None) -> dict[str, Any]:
        prod_card = None
        if production is not None and production != card.version:
            prod_card = await self.store.find(production)
        policy = await self.policies.get()
        choice = await self._dataset(card, policy.dataset)
        if isinstance(choice, str):
            return failure(None if prod_card is None else prod_card.version, "sanity", choice)
        job = GateJob(
            candidate=card,
            candidate_path=self.artifacts.path(card.sha256),
            production=prod_card,
            production_path=None if prod_card is None else self.artifacts.path(prod_card.sha256),
            dataset_path=choice.path,
            policy=policy,
            options=self.options,
            dataset_source=choice.source,
            dataset_sha256=choice.sha256,
        )
        names = self._names() | {str(job.candidate_path): f"the stored file of {card.version}"}
        names[str(choice.path)] = f"the stored file of dataset {choice.source}"
        if prod_card is not None and job.production_path is not None:
            names[str(job.production_path)] = f"the stored file of {prod_card.version}"
        record = await self._gate_record(job, names)
        chosen = {"chosen_by": choice.chosen_by} | ({"note": choice.note} if choice.note else {})
        if isinstance(record.get("dataset"), dict):
            record["dataset"] = record["dataset"] | chosen
        else:
            record["dataset"] = {"source": choice.source} | chosen
        return record

    async def _gate_record(self, job: GateJob, names: dict[str, str]) -> dict[str, Any]:
        """The run's record with no server path in it: the child's, or an identical finished
        run's when a gate cache is set (test settings: gateway.models.gate_cache)."""
        key = None if self.gate_cache is None else job_key(job)
        if self.gate_cache is not None and key is not None:
            kept = self.gate_cache.get(key)
            if kept is not None:
                return kept
        raw, finished = await run_in_child(job, self.gate_timeout_s)
        record = dict(redact_record(raw, names))
        if self.gate_cache is not None and key is not None and finished:
            self.gate_cache.put(key, record)
        return record

    async def regate(
        self,
        version: str,
        dataset: str | None,
        config: RoutingConfig,
        actor: str,
        reason: str,
    ) -> ModelCard:
        """Put a version back to "gating" (its last results kept in ``gates_history``) so
        that its gates run again, on ``dataset`` if named (it must carry every feature the
        version reads). The caller starts the run (:meth:`gate`)."""
        card = await self.store.get(version)
        if card.retired:
            raise Conflict(
                f"model version {version!r} is retired; register the same file again to restore it"
            )
        if card.state == "gating":
            raise Conflict(f"model version {version!r} is being gated; wait for its results")
        if version in config.served_versions():
            raise Conflict(
                f"model version {version!r} takes traffic (production, a running experiment or "
                "a shadow): while it is gated again it could not; re-gate a version that "
                "serves nothing"
            )
        if dataset is not None:
            info = await self.datasets.find(dataset)
            if info is None:
                raise ConfigError(
                    "$.dataset", f"dataset {dataset!r} is not registered (POST /v1/datasets)"
                )
            missing = lacking_in(info.features, info.feature_width, card.declaration)
            if missing:
                raise RequestError(
                    "$.dataset",
                    f"dataset {dataset!r} lacks feature(s) that model version {version!r} "
                    f"reads: {describe_lacking(missing)}",
                )
            await self.store.redis.hset(self.store.keys.gate_datasets, version, dataset)
        else:
            await self.store.redis.hdel(self.store.keys.gate_datasets, version)
        # A fresh count of runs: the last ones may have been used up.
        await self.store.redis.hdel(self.claims.runs_key, version)

        def again(c: ModelCard) -> ModelCard:
            if c.state == "gating":
                raise Conflict(f"model version {version!r} is being gated; wait for its results")
            history = c.gates_history if c.gates is None else (*c.gates_history, c.gates)
            return replace(
                c, state="gating", gates=None, gates_history=history[-MAX_GATES_HISTORY:]
            )

        on = f" on dataset {dataset}" if dataset is not None else ""
        return await self.store.update(
            version, again, actor, f"re-gate{on}" + (f": {reason}" if reason else "")
        )

    async def override(self, version: str, actor: str, reason: str) -> ModelCard:
        card = await self.store.get(version)
        if card.state == "gating":
            raise Conflict(f"model version {version!r} is still being gated; wait for its results")
        if card.state == "passed":
            raise Conflict(
                f"model version {version!r} passed its gates; there is nothing to override"
            )
        override = {"actor": actor, "reason": reason, "ts": time.time()}
        return await self.store.update(
            version, lambda c: replace(c, override=override), actor, f"gates overridden: {reason}"
        )

    async def retire(
        self, version: str, config: RoutingConfig, actor: str, reason: str
    ) -> ModelCard:
        card = await self.store.get(version)
        uses = version_uses(config, version)
        if uses:
            raise Conflict(
                f"model version {version!r} is in use ({', '.join(uses)}); "
                + "; ".join(dict.fromkeys(_RELEASE[use.split(":")[0]] for use in uses))
                + " first"
            )
        if card.retired:
            return card
        return await self.store.update(
            version, lambda c: replace(c, retired=True), actor, reason or "retired"
        )

    async def require_usable(self, version: str) -> ModelCard:
        """The card of a version that may take traffic, or the error that says why not."""
        card = await self.store.find(version)
        if card is None:
            raise ConfigError(f"model version {version!r}", "is not registered (POST /v1/models)")
        if card.retired:
            raise Conflict(
                f"model version {version!r} is retired; register the same file again to restore it"
            )
        if card.state == "gating":
            raise Conflict(f"model version {version!r} is still being gated; wait for its results")
        if not card.usable:
            raise ConfigError(
                f"model version {version!r}",
                "failed its gates ("
                + "; ".join(failed_gates(card.gates))
                + f"); an admin may override with a reason: POST /v1/models/{version}/override",
            )
        return card


# What frees a version from each use before it can be retired.
_RELEASE: Final = {
    "production": "make another version production",
    "experiment": "stop or archive the experiment",
    "shadow": "stop its shadow",
    "holdout": "end the holdout (DELETE /v1/holdout)",
}


def not_found(version: str) -> NotFound:
    return NotFound(f"model version {version!r} is not registered")
