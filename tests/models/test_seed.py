"""Seeding a store at start-up (real Redis, real ONNX files, gates in child processes): a
start checks every file and every version the routing names before its first write, so a
failed start leaves an empty store empty and the corrected start needs nothing deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.control.store import EMPTY, ConfigStore
from gateway.errors import ConfigError
from gateway.keys import Keys
from gateway.models.registrar import Registrar
from gateway.models.seed import file_source, folder_source, seed_store
from gateway.settings import ROOT


async def _keys(redis: Redis, prefix: str) -> list[bytes]:
    """Every key of this deployment (its keys are hash-tagged ``{prefix}`` or ``{prefix.n}``)."""
    return [k async for k in redis.scan_iter(match=f"{{{prefix}*")]


def _version(seed: Path, models_dir: Path, demo: str, version: str | None = None) -> Path:
    """A copy of a demo version's folder (renamed ``version``) in the seed folder."""
    target = seed / (version or demo)
    shutil.copytree(models_dir / demo, target)
    if version is not None:
        card = (target / "card.json").read_text().replace(f'"{demo}"', f'"{version}"')
        (target / "card.json").write_text(card)
    return target


def test_a_folder_without_routing_seeds_its_one_version_as_production(
    tmp_path: Path, models_dir: Path
) -> None:
    _version(tmp_path, models_dir, "prod-v1", "mine-v1")
    source = folder_source(tmp_path)
    assert source.routing.production == "mine-v1" and not source.routing.experiments
    _version(tmp_path, models_dir, "cand-v2")
    with pytest.raises(
        ConfigError, match=r"holds 2 versions \['cand-v2', 'mine-v1'\].*routing\.toml"
    ):
        folder_source(tmp_path)
    (tmp_path / "routing.toml").write_text('production = "cand-v2"\n')
    assert folder_source(tmp_path).routing.production == "cand-v2"


async def test_a_failed_start_writes_nothing_and_the_corrected_one_needs_no_deletion(
    redis: Redis, registrar: Registrar, prefix: str, tmp_path: Path, models_dir: Path
) -> None:
    seed = tmp_path / "seed"
    _version(seed, models_dir, "prod-v1", "mine-v1")
    (seed / "routing.toml").write_text(
        'production = "mine-v1"\n'
        "[[experiments]]\n"
        'key = "next"\nstatus = "draft"\n'
        'variants = [{name = "control", model_version = "mine-v1"},\n'
        '            {name = "candidate", model_version = "mine-v2"}]\n'
    )
    store = ConfigStore(redis, Keys(prefix))

    async def start() -> None:
        await seed_store(folder_source(seed), store, registrar, "gateway-startup")

    with pytest.raises(ConfigError, match=r"'mine-v2'.*is named by the routing config.*not regis"):
        await start()  # the routing names a version the folder lacks
    assert await _keys(redis, prefix) == []
    candidate = _version(seed, models_dir, "cand-v2", "mine-v2")
    (candidate / "card.json").write_text('{"version": "mine-v2", "inputs": "three floats"}')
    with pytest.raises(ConfigError, match=r"mine-v2/card\.json\.inputs: expected a list"):
        await start()  # a broken card
    assert await _keys(redis, prefix) == []
    shutil.rmtree(candidate)
    candidate = _version(seed, models_dir, "cand-v2", "mine-v2")
    (candidate / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match=r"mine-v2/model\.onnx: .*not a loadable ONNX model"):
        await start()  # a broken ONNX file
    assert await _keys(redis, prefix) == []

    shutil.copyfile(models_dir / "cand-v2" / "model.onnx", candidate / "model.onnx")
    await start()  # corrected: nothing was deleted by hand
    version, config = await store.load()
    assert version == 1 and config.production == "mine-v1"
    assert config.experiment("next").status == "draft"
    cards = {c.version: c for c in await registrar.store.all()}
    assert cards["mine-v1"].state == "passed" and cards["mine-v1"].gates["against"] is None
    assert cards["mine-v2"].usable and cards["mine-v2"].gates["against"] == "mine-v1"
    history = await store.production_history()
    assert [(h["from"], h["to"]) for h in history] == [(None, "mine-v1")]
    assert (await store.audit_log())[0]["reason"] == "seeded from routing.toml"

    await start()  # a restart: already seeded, nothing more
    assert (await store.load())[0] == 1 and len(await registrar.store.all()) == 2


async def test_an_empty_routing_leaves_the_store_without_production(
    redis: Redis, registrar: Registrar, prefix: str, tmp_path: Path
) -> None:
    """The shipped routing file names no production: a start needs no model file at all."""
    store = ConfigStore(redis, Keys(prefix))
    source = file_source(ROOT / "configs" / "experiments.toml", tmp_path / "no-models-here")
    await seed_store(source, store, registrar, "gateway-startup")
    assert not await store.exists() and await store.load() == (0, EMPTY)
    assert await registrar.store.all() == []
