"""The gate cache (a test and CI setting): an identical finished run is reused, anything that
differs runs again, and a run that did not finish (a deadline) is never kept."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.models import registrar as registrar_module
from gateway.models.artifacts import ArtifactStore
from gateway.models.card import read_declaration
from gateway.models.gate_cache import GateCache, job_key
from gateway.models.gate_policy import GatePolicy
from gateway.models.registrar import Registrar
from tests.models.hostile import never_ending_card, never_ending_model, store_never_ending
from tests.models.test_gate_process import job_for


def test_the_key_changes_with_anything_the_record_depends_on(tmp_path: Path) -> None:
    job = job_for(tmp_path, never_ending_model(), never_ending_card("forever-v1"))
    key = job_key(job)
    assert key is not None and key == job_key(job)
    other_policy = replace(job, policy=GatePolicy(ndcg_margin=0.5))
    (tmp_path / "b").mkdir()
    other_version = job_for(tmp_path / "b", never_ending_model(), never_ending_card("forever-v2"))
    other_dataset = replace(job, dataset_sha256="0" * 64)
    keys = {job_key(j) for j in (other_policy, other_version, other_dataset)}
    assert key not in keys and len(keys) == 3
    # The paths of the files are not part of it: every test's store lives elsewhere.
    assert job_key(replace(job, candidate_path=tmp_path / "elsewhere.onnx")) == key
    # An unreadable dataset has no key: the run itself must say why.
    assert job_key(replace(job, dataset_path=tmp_path / "missing.jsonl")) is None


def test_a_kept_record_comes_back_with_the_time_of_its_reuse(tmp_path: Path) -> None:
    cache = GateCache(tmp_path / "cache")
    assert cache.get("k") is None
    cache.put("k", {"passed": True, "ran_at": 1.0, "results": []})
    before = time.time()
    kept = cache.get("k")
    assert kept is not None and kept["passed"] is True and kept["ran_at"] >= before
    (tmp_path / "cache" / "bad.json").write_bytes(b"{not json")
    assert cache.get("bad") is None
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["bad.json", "k.json"]


async def _store(registrar: Registrar, demo: Path, version: str) -> None:
    """A demo version in this registrar's store and on disk, "gating"."""
    upload = registrar.artifacts.root / "incoming.onnx"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes((demo / version / "model.onnx").read_bytes())
    declaration = read_declaration(demo / version / "card.json")
    await registrar.register(declaration, upload, "test", "registered")


async def test_the_registrar_keeps_finished_runs_and_never_a_deadline(
    registrar: Registrar, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = GateCache(tmp_path / "cache")
    registrar.gate_cache = cache
    await store_never_ending(registrar, "forever-v1")
    card = await registrar.gate("forever-v1", None, "test")
    assert card.state == "failed" and "did not finish" in str(card.gates)
    assert not cache.directory.exists()  # a deadline is never kept

    registrar.gate_timeout_s = 300.0
    await _store(registrar, models_dir, "prod-v1")
    first = await registrar.gate("prod-v1", None, "test")
    assert first.state == "passed" and len(list(cache.directory.iterdir())) == 1

    # Another deployment's registrar (its own store, its own paths) with the same cache: the
    # same version's gates come from the kept record, without a child process.
    other = Registrar(
        registrar.store,
        ArtifactStore(tmp_path / "other-store"),
        registrar.options,
        GatePolicy(),
        registrar.eval_path,
        gate_cache=cache,
    )
    await registrar.store.redis.delete(registrar.store.keys.models)
    await registrar.store.redis.delete(registrar.claims.runs_key)

    async def no_child(*_args: object) -> None:
        raise AssertionError("a child process ran for a kept record")

    monkeypatch.setattr(registrar_module, "run_in_child", no_child)
    await _store(other, models_dir, "prod-v1")
    again = await other.gate("prod-v1", None, "test")
    assert again.state == "passed" and again.gates is not None and first.gates is not None
    assert {**again.gates, "ran_at": 0} == {**first.gates, "ran_at": 0}
    assert again.gates["ran_at"] > first.gates["ran_at"]
    # Another policy is another run.
    with pytest.raises(AssertionError, match="a child process ran"):
        await other.policies.change({"ndcg_margin": 0.5}, "test", "stricter")
        await other.store.redis.delete(other.store.keys.models)
        await other.store.redis.delete(other.claims.runs_key)
        await _store(other, models_dir, "prod-v1")
        await other.gate("prod-v1", None, "test")
