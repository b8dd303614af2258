"""Seeding a store from files at start-up: model versions from a folder, and a routing config.

A seed folder holds one folder per version, ``<version>/model.onnx`` and ``<version>/card.json``
(the card as ``POST /v1/models`` takes it), and, for ``abgate serve --seed DIR``, an optional
``routing.toml`` (the routing config's fields: production, experiments, shadows). Without one,
the folder must hold exactly one version, which becomes production.

A start is planned before it writes: the routing file parsed, every card read, every ONNX file
loaded and checked against its card, every version the routing names found registered or in
the folder. Only then is anything written to Redis, so a failed start leaves the store as it
was (an empty one empty) and a corrected start needs nothing deleted by hand.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.config import RoutingConfig, load_routing_file
from gateway.control.store import ConfigStore
from gateway.errors import ConfigError
from gateway.inference.registry import OnnxRanker
from gateway.inference.session import SessionOptions
from gateway.layout import check_layout
from gateway.models.card import Declaration, read_declaration
from gateway.models.registrar import Registrar
from gateway.models.store import ModelStore
from gateway.settings import Settings

log = logging.getLogger("abgate.models")

# The routing config of a seed folder, beside its versions' folders.
SEED_ROUTING: Final = "routing.toml"
CARD: Final = "card.json"
MODEL: Final = "model.onnx"


@dataclass(frozen=True)
class SeedSource:
    """Where a start's files come from: the routing config an empty store is seeded with,
    and the folder of versions it names."""

    routing: RoutingConfig
    routing_source: str  # the file it came from, for messages and the audit
    models_dir: Path | None
    # ``--seed DIR``: every version in the folder is registered, not only those routed to.
    every_version: bool = False


@dataclass(frozen=True)
class SeedModel:
    declaration: Declaration
    onnx: Path

    @property
    def version(self) -> str:
        return self.declaration.version


@dataclass(frozen=True)
class SeedPlan:
    """What a start writes, checked: the versions to register (production first) for the
    routing config that will be in force (the stored one if the store has one: Redis is the
    source of truth; else the seed's)."""

    config: RoutingConfig
    models: tuple[SeedModel, ...]
    source: SeedSource


def seed_versions(directory: Path) -> list[str]:
    """The version folders of a seed folder (those with a card), sorted."""
    try:
        return sorted(p.name for p in directory.iterdir() if (p / CARD).is_file())
    except OSError as exc:
        raise ConfigError(str(directory), f"cannot read the seed folder: {exc}") from None


def folder_source(directory: Path) -> SeedSource:
    """``abgate serve --seed DIR``: DIR/routing.toml, else DIR's one version as production."""
    if not directory.is_dir():
        raise ConfigError(str(directory), "is not a folder (--seed names a folder of versions)")
    versions = seed_versions(directory)
    routing_file = directory / SEED_ROUTING
    if routing_file.exists():
        routing = load_routing_file(routing_file)
        return SeedSource(routing, str(routing_file), directory, every_version=True)
    if len(versions) != 1:
        found = f"{len(versions)} versions {versions}" if versions else "no version"
        raise ConfigError(
            str(directory),
            f"holds {found} (a version is <version>/{CARD} + <version>/{MODEL}) and no "
            f"{SEED_ROUTING}; name production in {routing_file}, e.g. production = "
            '"my-ranker-v1", or keep one version in the folder',
        )
    return SeedSource(RoutingConfig(versions[0]), str(directory), directory, every_version=True)


def file_source(routing_file: Path, models_dir: Path | None) -> SeedSource:
    """ABGATE_ROUTING (configs/experiments.toml by default) and ABGATE_SEED_MODELS: the
    versions the routing names that the store lacks are registered from the folder."""
    return SeedSource(load_routing_file(routing_file), str(routing_file), models_dir)


def seed_source(settings: Settings) -> SeedSource:
    """``abgate serve --seed DIR``'s folder, else the routing file and the seed models."""
    if settings.seed_dir is not None:
        return folder_source(settings.seed_dir)
    return file_source(settings.routing_file, settings.seed_models_dir)


async def plan_seed(
    source: SeedSource, store: ConfigStore, models: ModelStore, options: SessionOptions
) -> SeedPlan:
    """Check everything a start would write, reading Redis and files only; ``ConfigError``
    names the first problem."""
    stored = await store.exists()
    config = (await store.load())[1] if stored else source.routing
    wanted = [] if config.production is None else [config.production]
    wanted += sorted(config.referenced_versions() - set(wanted))
    if source.every_version and source.models_dir is not None:
        wanted += [v for v in seed_versions(source.models_dir) if v not in wanted]
    plan = []
    for version in wanted:
        if await models.find(version) is None:
            plan.append(await asyncio.to_thread(_check_model, source, version, options))
    return SeedPlan(config, tuple(plan), source)


def _check_model(source: SeedSource, version: str, options: SessionOptions) -> SeedModel:
    directory = None if source.models_dir is None else source.models_dir / version
    if directory is None or not (directory / CARD).is_file():
        where = "no seed folder" if directory is None else f"no {directory / CARD}"
        raise ConfigError(
            f"model version {version!r}",
            f"is named by the routing config ({source.routing_source}) but not registered, and "
            f"there is {where}; register it first (abgate models register), or seed it: "
            f"abgate serve --seed DIR with DIR/{version}/{CARD} and DIR/{version}/{MODEL}",
        )
    declaration = read_declaration(directory / CARD)
    if declaration.version != version:
        raise ConfigError(
            f"{directory / CARD}.version",
            f"expected {version!r} (its folder's name), got {declaration.version!r}",
        )
    onnx = directory / MODEL
    if not onnx.is_file():
        raise ConfigError(str(onnx), f"missing: the ONNX file of {version!r}")
    try:
        OnnxRanker(declaration, onnx, options)  # loads as its card declares, or says why not
    except ConfigError as exc:
        raise ConfigError(str(onnx), str(exc)) from None
    return SeedModel(declaration, onnx)


async def seed_store(
    source: SeedSource, store: ConfigStore, registrar: Registrar, actor: str
) -> None:
    """A start's writes, after its checks: the shard layout, the versions, the routing config."""
    plan = await plan_seed(source, store, registrar.store, registrar.options)
    await check_layout(store.redis, store.keys)
    await apply_seed(plan, store, registrar, actor)


async def apply_seed(plan: SeedPlan, store: ConfigStore, registrar: Registrar, actor: str) -> None:
    """Register and gate the plan's versions (production first, so that the others are gated
    against it), then store the seed's routing config if the store has none. A version the
    config names that fails a gate is overridden, audited: the seed routes to it on purpose."""
    folder = "seed" if plan.source.models_dir is None else plan.source.models_dir.name
    production = plan.config.production
    for model in plan.models:
        upload = registrar.artifacts.incoming()
        await asyncio.to_thread(shutil.copyfile, model.onnx, upload)
        _, new = await registrar.register(
            model.declaration, upload, actor, f"seeded from {folder}/{model.version}"
        )
        if not new:  # another process of this start registered it, and gates it
            continue
        gated = await registrar.gate(
            model.version, None if model.version == production else production, actor
        )
        if gated.state == "failed" and model.version in plan.config.referenced_versions():
            await registrar.override(model.version, actor, "the seed routing config routes to it")
        log.info("seeded model %s: gates %s", model.version, gated.state)
    await store.seed_or_notice(plan.source.routing, actor, plan.source.routing_source)
