"""Parsing the routing config (TOML file, stored JSON, API bodies): typed, frozen, validated once.

Every error names the field, the rule and the value it got, e.g.
``experiments[0] 'ranker-q4'.variants: weights sum to 0.97, expected 1.0``.
Nothing is silently repaired.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final, cast, get_args

from gateway.config.holdout import MAX_HOLDOUT_SHARE, Holdout
from gateway.config.model import (
    DEFAULT_ATTRIBUTION_WINDOW_S,
    DEFAULT_MIN_RUNTIME_S,
    INTERLEAVED_KINDS,
    MAX_ATTRIBUTION_WINDOW_S,
    MIN_ATTRIBUTION_WINDOW_S,
    WEIGHT_SUM_TOLERANCE,
    Analysis,
    BanditPolicy,
    BanditSettings,
    Correction,
    Credit,
    Experiment,
    Guardrail,
    InterleavingSettings,
    Kind,
    Metric,
    Outcome,
    PausedBy,
    Phase,
    RampStep,
    Reward,
    RoutingConfig,
    SequentialMethod,
    Shadow,
    ShadowRequirement,
    Status,
    Then,
    Variant,
)
from gateway.config.segments import parse_dimensions
from gateway.errors import ConfigError
from gateway.router.hashing import SUPPORTED_HASH_VERSIONS

_KEY_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KEY_RE: Final = _KEY_RE
_DATASET_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _take(data: Mapping[str, Any], where: str, allowed: Collection[str]) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"expected a table/object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(where, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")


def _str(data: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    if name not in data:
        if default is None:
            raise ConfigError(f"{where}.{name}", "is required")
        return default
    value = data[name]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{name}", f"expected a non-empty string, got {value!r}")
    return value


def _number(
    data: Mapping[str, Any], name: str, where: str, default: float, lo: float, hi: float
) -> float:
    if name not in data and math.isnan(default):
        raise ConfigError(f"{where}.{name}", "is required")
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}.{name}", f"expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}.{name}", f"must be in [{lo}, {hi}], got {value!r}")
    return float(value)


def _bool(data: Mapping[str, Any], name: str, where: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{name}", f"expected true or false, got {value!r}")
    return value


def _choice(data: Mapping[str, Any], name: str, where: str, options: Any, default: str) -> str:
    value = data.get(name, default)
    allowed = get_args(options)
    if value not in allowed:
        raise ConfigError(f"{where}.{name}", f"must be one of {list(allowed)}, got {value!r}")
    return cast(str, value)


def parse_variant(data: Mapping[str, Any], where: str, weight: float = math.nan) -> Variant:
    """One variant; ``weight`` is the default of an optional weight (NaN: required)."""
    _take(data, where, ("name", "model_version", "weight"))
    return Variant(
        name=_str(data, "name", where),
        model_version=_str(data, "model_version", where),
        weight=_number(data, "weight", where, weight, 0.0, 1.0),
    )


# The most versions one multileaved page merges: each search runs every one of them.
MAX_MULTILEAVED: Final = 6


def _variants(raw: list[Any], kind: str, where: str) -> tuple[Variant, ...]:
    """Weights left out altogether are an equal split. An interleaved experiment shows every
    variant on every page, so its weights only split users between the versions' operational
    counts and any one may be left out (an equal share); otherwise a split given for one
    variant is given for all, so that no weight is guessed."""
    equal = 1.0 / len(raw)
    weighted = [isinstance(v, Mapping) and "weight" in v for v in raw]
    if kind not in INTERLEAVED_KINDS and any(weighted) and not all(weighted):
        i = weighted.index(False)
        raise ConfigError(
            f"{where}.variants[{i}].weight",
            "is required once another variant sets a weight (leave every weight out for an "
            "equal split)",
        )
    return tuple(parse_variant(v, f"{where}.variants[{i}]", equal) for i, v in enumerate(raw))


def parse_experiment(data: Mapping[str, Any], where: str) -> Experiment:
    _take(data, where, Experiment.field_names())
    key = _str(data, "key", where)
    if not _KEY_RE.match(key):
        raise ConfigError(f"{where}.key", f"must match {_KEY_RE.pattern}, got {key!r}")
    where = f"{where} {key!r}"
    raw_variants = data.get("variants")
    if not isinstance(raw_variants, list) or len(raw_variants) < 2:
        raise ConfigError(
            f"{where}.variants", f"expected a list of at least 2, got {raw_variants!r}"
        )
    kind = cast(Kind, _choice(data, "kind", where, Kind, "ab"))
    variants = _variants(raw_variants, kind, where)
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.variants", f"variant names must be unique, got {names}")
    total = sum(v.weight for v in variants)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ConfigError(f"{where}.variants", f"weights sum to {total:g}, expected 1.0")
    raw_range = data.get("namespace_range", [0.0, 1.0])
    if (
        not isinstance(raw_range, list | tuple)
        or len(raw_range) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw_range)
        or not 0.0 <= raw_range[0] < raw_range[1] <= 1.0
    ):
        raise ConfigError(
            f"{where}.namespace_range",
            f"expected [start, end] with 0 <= start < end <= 1, got {raw_range!r}",
        )
    hash_version = data.get("hash_version", 2)
    if hash_version not in SUPPORTED_HASH_VERSIONS or isinstance(hash_version, bool):
        raise ConfigError(
            f"{where}.hash_version",
            f"must be one of {list(SUPPORTED_HASH_VERSIONS)}, got {hash_version!r}",
        )
    min_units = data.get("min_units_per_arm", 200)
    if isinstance(min_units, bool) or not isinstance(min_units, int) or min_units < 1:
        raise ConfigError(
            f"{where}.min_units_per_arm", f"expected an integer >= 1, got {min_units!r}"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.description", f"expected a string, got {description!r}")
    seed = data.get("seed", "")
    if not isinstance(seed, str):
        raise ConfigError(f"{where}.seed", f"expected a string, got {seed!r}")
    dataset = data.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or not _DATASET_RE.match(dataset)):
        raise ConfigError(
            f"{where}.dataset",
            f"expected a registered dataset's id (1-64 letters, digits, '.', '_', '-'), got "
            f"{dataset!r}",
        )
    horizon = _optional_int(data, "horizon_units_per_arm", where, 2)
    method = _choice(data, "method", where, SequentialMethod, "auto")
    if method == "group-sequential" and horizon is None:
        raise ConfigError(
            f"{where}.method", "'group-sequential' needs horizon_units_per_arm (the planned size)"
        )
    looks = _optional_int(data, "looks", where, 1, 1000)
    min_runtime = _number(data, "min_runtime_s", where, DEFAULT_MIN_RUNTIME_S, 0.0, 1e9)
    max_runtime = None
    if data.get("max_runtime_s") is not None:
        max_runtime = _number(data, "max_runtime_s", where, 0.0, 1.0, 1e9)
        if max_runtime <= min_runtime:
            default = "" if "min_runtime_s" in data else ", its default: set it too"
            raise ConfigError(
                f"{where}.max_runtime_s",
                f"must exceed min_runtime_s ({min_runtime:g}{default}), got {max_runtime:g}",
            )
    ramp = _ramp(data.get("ramp", []), f"{where}.ramp")
    ramp_step = _optional_int(data, "ramp_step", where, 0, max(0, len(ramp) - 1)) or 0
    coverage = _number(data, "coverage", where, 1.0, 0.0, 1.0)
    if ramp:
        if "coverage" in data and coverage != ramp[ramp_step].coverage:
            raise ConfigError(
                f"{where}.coverage",
                f"follows the ramp schedule (step {ramp_step}: {ramp[ramp_step].coverage:g}); "
                f"got {coverage:g}",
            )
        coverage = ramp[ramp_step].coverage
    bandit = _bandit(data, kind, variants, where)
    interleaving = _interleaving(data, kind, variants, where)
    guardrails = _guardrails(data.get("guardrails", []), f"{where}.guardrails")
    primary = data.get("primary_metric", "purchase_conversion")
    for i, g in enumerate(guardrails):
        if g.metric == primary:
            raise ConfigError(
                f"{where}.guardrails[{i}].metric",
                f"{g.metric!r} is the primary metric: it is tested for superiority already "
                "(a guardrail guards another metric)",
            )
    phases = _phases(data.get("phases", []), f"{where}.phases", len(variants))
    if bandit is not None and guardrails:
        raise ConfigError(
            f"{where}.guardrails",
            "a bandit has no business guardrails (its operational ones apply); run an A/B "
            "test to guard a metric",
        )
    if interleaving is not None and guardrails:
        raise ConfigError(
            f"{where}.guardrails",
            f"every user of an {kind} experiment sees every version, so no metric tells them "
            "apart per arm (its operational guardrails apply); guard metrics in the A/B test "
            'that confirms the winner (interleaving.then = "ab")',
        )
    if bandit is not None and phases:
        raise ConfigError(f"{where}.phases", "a bandit's re-weightings are periods, not phases")
    status = cast(Status, _choice(data, "status", where, Status, "running"))
    paused_at, paused_by = _pause(data, status, where)
    return Experiment(
        key=key,
        variants=variants,
        kind=kind,
        bandit=bandit,
        interleaving=interleaving,
        period=_optional_int(data, "period", where, 0, 10**9) or 0,
        period_started_at=_number(data, "period_started_at", where, 0.0, 0.0, 1e11),
        status=status,
        paused_at=paused_at,
        paused_by=paused_by,
        paused_s=_number(data, "paused_s", where, 0.0, 0.0, 1e11),
        outcome=cast(Outcome, _choice(data, "outcome", where, Outcome, "none")),
        description=description,
        coverage=coverage,
        namespace_range=(float(raw_range[0]), float(raw_range[1])),
        hash_version=int(hash_version),
        seed=seed,
        phases=phases,
        ramp=ramp,
        ramp_step=ramp_step,
        ramp_step_started_at=_number(data, "ramp_step_started_at", where, 0.0, 0.0, 1e11),
        require_shadow=_shadow_requirement(data.get("require_shadow"), f"{where}.require_shadow"),
        dataset=dataset,
        analysis=Analysis(
            primary_metric=cast(
                Metric, _choice(data, "primary_metric", where, Metric, "purchase_conversion")
            ),
            alpha=_number(data, "alpha", where, 0.05, 1e-6, 0.5),
            min_units_per_arm=min_units,
            guardrails=guardrails,
            method=cast(SequentialMethod, method),
            mde=_number(data, "mde", where, 0.05, 1e-4, 10.0),
            horizon_units_per_arm=horizon,
            looks=100 if looks is None else looks,
            correction=cast(Correction, _choice(data, "correction", where, Correction, "holm")),
            min_runtime_s=min_runtime,
            max_runtime_s=max_runtime,
            max_error_rate=_number(data, "max_error_rate", where, 0.02, 0.0, 1.0),
            max_latency_ratio=_number(data, "max_latency_ratio", where, 3.0, 1.0, 1000.0),
            min_ops_requests=_optional_int(data, "min_ops_requests", where, 1, 10**9) or 50,
            cuped=_bool(data, "cuped", where, True),
            deterioration=_bool(data, "deterioration", where, True),
            attribution_window_s=_number(
                data,
                "attribution_window_s",
                where,
                DEFAULT_ATTRIBUTION_WINDOW_S,
                MIN_ATTRIBUTION_WINDOW_S,
                MAX_ATTRIBUTION_WINDOW_S,
            ),
        ),
    )


def _bandit(
    data: Mapping[str, Any], kind: str, variants: tuple[Variant, ...], where: str
) -> BanditSettings | None:
    raw = data.get("bandit")
    if kind != "bandit":
        if raw is not None:
            raise ConfigError(f"{where}.bandit", 'is for kind = "bandit" only')
        return None
    where = f"{where}.bandit"
    raw = {} if raw is None else raw
    _take(raw, where, tuple(BanditSettings.__dataclass_fields__))
    k = len(variants)
    burn_in = _optional_int(raw, "burn_in_units", where, 0, 10**9)
    settings = BanditSettings(
        policy=cast(BanditPolicy, _choice(raw, "policy", where, BanditPolicy, "thompson")),
        reward=cast(Reward, _choice(raw, "reward", where, Reward, "purchase_conversion")),
        floor=_number(raw, "floor", where, min(0.05, 1 / k), 0.0, 1 / k),
        burn_in_units=200 if burn_in is None else burn_in,
        update_every_s=_number(raw, "update_every_s", where, 60.0, 1.0, 1e7),
        stop_probability=_number(raw, "stop_probability", where, 0.95, 0.5, 0.9999),
    )
    if settings.policy == "ucb1" and settings.reward == "revenue_per_search":
        raise ConfigError(
            f"{where}.policy",
            "'ucb1' needs rewards in [0, 1]; revenue_per_search is not (use 'thompson')",
        )
    low = [v.name for v in variants if v.weight < settings.floor - 1e-9]
    if low:
        raise ConfigError(
            f"{where}.floor",
            f"every arm keeps at least the floor {settings.floor:g}; {low} have less weight",
        )
    return settings


def _interleaving(
    data: Mapping[str, Any], kind: str, variants: tuple[Variant, ...], where: str
) -> InterleavingSettings | None:
    raw = data.get("interleaving")
    if kind not in INTERLEAVED_KINDS:
        if raw is not None:
            raise ConfigError(
                f"{where}.interleaving", 'is for kind = "interleaving" or "multileaving" only'
            )
        return None
    k = len(variants)
    if kind == "interleaving" and k != 2:
        raise ConfigError(
            f"{where}.variants",
            f'kind = "interleaving" compares exactly 2 versions, got {k}; use '
            '"multileaving" for more',
        )
    if kind == "multileaving" and not 3 <= k <= MAX_MULTILEAVED:
        raise ConfigError(
            f"{where}.variants",
            f'kind = "multileaving" merges 3 to {MAX_MULTILEAVED} versions, got {k}'
            + ('; use "interleaving" for 2' if k == 2 else ""),
        )
    versions = [v.model_version for v in variants]
    if kind == "multileaving" and len(set(versions)) != k:
        raise ConfigError(
            f"{where}.variants",
            f"a multileaved page needs {k} different versions, got {versions}",
        )
    where = f"{where}.interleaving"
    raw = {} if raw is None else raw
    _take(raw, where, tuple(InterleavingSettings.__dataclass_fields__))
    return InterleavingSettings(
        then=cast(Then, _choice(raw, "then", where, Then, "production")),
        credit=cast(Credit, _choice(raw, "credit", where, Credit, "click")),
        min_competitive_share=_number(raw, "min_competitive_share", where, 0.02, 0.0, 1.0),
        min_slots=_optional_int(raw, "min_slots", where, 1, 10**12) or 2000,
        settle_s=_number(raw, "settle_s", where, 1800.0, 0.0, 1e7),
    )


def _shadow_requirement(raw: Any, where: str) -> ShadowRequirement | None:
    if raw is None:
        return None
    _take(raw, where, ("min_searches", "min_overlap", "max_overlap", "max_error_rate"))
    requirement = ShadowRequirement(
        min_searches=_optional_int(raw, "min_searches", where, 1, 10**9) or 500,
        min_overlap=_number(raw, "min_overlap", where, 0.0, 0.0, 1.0),
        max_overlap=_number(raw, "max_overlap", where, 1.0, 0.0, 1.0),
        max_error_rate=_number(raw, "max_error_rate", where, 0.01, 0.0, 1.0),
    )
    if requirement.min_overlap > requirement.max_overlap:
        raise ConfigError(f"{where}.max_overlap", "must be at least min_overlap")
    return requirement


def _tables(raw: Any, where: str, fields: tuple[str, ...]) -> list[tuple[str, Mapping[str, Any]]]:
    """A list of tables with these fields, each with the path its errors name."""
    if not isinstance(raw, list):
        shape = ", ".join(fields)
        raise ConfigError(where, f"expected a list of {{{shape}}}, got {raw!r}")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        _take(item, at, fields)
        out.append((at, item))
    return out


def _ramp(raw: Any, where: str) -> tuple[RampStep, ...]:
    steps = []
    tables = _tables(raw, where, ("coverage", "hold_s"))
    for i, (at, item) in enumerate(tables):
        coverage = _number(item, "coverage", at, math.nan, 1e-6, 1.0)
        last = i == len(tables) - 1
        hold = item.get("hold_s")
        if hold is None and not last:
            raise ConfigError(f"{at}.hold_s", "is required on every step but the last")
        steps.append(
            RampStep(coverage, None if hold is None else _number(item, "hold_s", at, 0, 0.0, 1e9))
        )
    coverages = [s.coverage for s in steps]
    if any(b <= a for a, b in itertools.pairwise(coverages)):
        raise ConfigError(where, f"coverage must rise from step to step, got {coverages}")
    return tuple(steps)


def _pause(
    data: Mapping[str, Any], status: Status, where: str
) -> tuple[float | None, PausedBy | None]:
    """``paused_at`` and ``paused_by``: both set exactly while the experiment is paused."""
    if status != "paused":
        for name in ("paused_at", "paused_by"):
            if data.get(name) is not None:
                raise ConfigError(
                    f"{where}.{name}",
                    f"is set only while the experiment is paused (status {status!r}), got "
                    f"{data[name]!r}",
                )
        return None, None
    for name in ("paused_at", "paused_by"):
        if data.get(name) is None:
            raise ConfigError(f"{where}.{name}", "is required while the experiment is paused")
    paused_at = _number(data, "paused_at", where, math.nan, 0.0, 1e11)
    return paused_at, cast(PausedBy, _choice(data, "paused_by", where, PausedBy, "hand"))


def _phases(raw: Any, where: str, arms: int) -> tuple[Phase, ...]:
    out = []
    for at, item in _tables(raw, where, ("weights", "started_at")):
        weights = item.get("weights")
        if (
            not isinstance(weights, list)
            or len(weights) != arms
            or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
            or abs(sum(weights) - 1.0) > WEIGHT_SUM_TOLERANCE
        ):
            raise ConfigError(
                f"{at}.weights", f"expected {arms} weights summing to 1, got {weights!r}"
            )
        started = _number(item, "started_at", at, math.nan, 0.0, 1e11)
        out.append(Phase(tuple(float(w) for w in weights), started))
    return tuple(out)


def _optional_int(
    data: Mapping[str, Any], name: str, where: str, lo: int, hi: int = 10**12
) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{name}", f"expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _guardrails(raw: Any, where: str) -> tuple[Guardrail, ...]:
    out = []
    for at, item in _tables(raw, where, ("metric", "margin")):
        metric = cast(Metric, _choice(item, "metric", at, Metric, ""))
        out.append(Guardrail(metric, _number(item, "margin", at, math.nan, 0.0, 1.0)))
    metrics = [g.metric for g in out]
    if len(set(metrics)) != len(metrics):
        raise ConfigError(where, f"one guardrail per metric, got {metrics}")
    return tuple(out)


def parse_routing(data: Mapping[str, Any]) -> RoutingConfig:
    """Parse and validate a whole routing config.

    ``production`` names the version everyone outside a running experiment gets (absent or
    null: none yet); ``default_model_version``, its name before the registry existed, is read
    as the same field.
    """
    _take(
        data,
        "config",
        (
            "production",
            "default_model_version",
            "experiments",
            "namespace_id",
            "frozen",
            "shadows",
            "holdout",
            "segments",
        ),
    )
    if "production" in data and "default_model_version" in data:
        raise ConfigError(
            "config.default_model_version",
            "is the old name of 'production'; give one of them, not both",
        )
    raw_experiments = data.get("experiments", [])
    if not isinstance(raw_experiments, list):
        raise ConfigError("config.experiments", f"expected a list, got {raw_experiments!r}")
    experiments = tuple(
        parse_experiment(e, f"experiments[{i}]") for i, e in enumerate(raw_experiments)
    )
    frozen = data.get("frozen", False)
    if not isinstance(frozen, bool):
        raise ConfigError("config.frozen", f"expected true or false, got {frozen!r}")
    name = (
        "production"
        if "production" in data or "default_model_version" not in data
        else ("default_model_version")
    )
    config = RoutingConfig(
        production=None if data.get(name) is None else _str(data, name, "config"),
        experiments=experiments,
        namespace_id=_str(data, "namespace_id", "config", "ranking"),
        frozen=frozen,
        shadows=_shadows(data.get("shadows", [])),
        holdout=parse_holdout(data.get("holdout"), "config.holdout"),
        segments=parse_dimensions(data.get("segments"), "config.segments"),
    )
    validate_routing(config)
    return config


HOLDOUT_FIELDS: Final = tuple(Holdout.__dataclass_fields__)


def parse_holdout(raw: Any, where: str) -> Holdout | None:
    """A holdout (None: none): ``share`` in (0, MAX_HOLDOUT_SHARE], ``ends_at`` after
    ``started_at``, the attribution window as an experiment's."""
    if raw is None:
        return None
    _take(raw, where, HOLDOUT_FIELDS)
    started = _number(raw, "started_at", where, math.nan, 0.0, 1e11)
    share = _number(raw, "share", where, math.nan, 0.0, MAX_HOLDOUT_SHARE)
    if share <= 0:
        raise ConfigError(f"{where}.share", f"must be above 0, got {share!r}")
    ends = None if raw.get("ends_at") is None else _number(raw, "ends_at", where, 0, 0, 1e11)
    if ends is not None and ends <= started:
        raise ConfigError(
            f"{where}.ends_at", f"must be after started_at ({started:.0f}), got {ends!r}"
        )
    ended = None if raw.get("ended_at") is None else _number(raw, "ended_at", where, 0, 0, 1e11)
    seed = raw.get("seed", "")
    if not isinstance(seed, str) or len(seed) > 128:
        raise ConfigError(
            f"{where}.seed", f"expected a string of at most 128 characters, got {seed!r}"
        )
    return Holdout(
        version=_str(raw, "version", where),
        share=share,
        started_at=started,
        ends_at=ends,
        ended_at=ended,
        seed=seed,
        attribution_window_s=_number(
            raw,
            "attribution_window_s",
            where,
            DEFAULT_ATTRIBUTION_WINDOW_S,
            MIN_ATTRIBUTION_WINDOW_S,
            MAX_ATTRIBUTION_WINDOW_S,
        ),
    )


def _shadows(raw: Any) -> tuple[Shadow, ...]:
    out = []
    for at, item in _tables(raw, "config.shadows", ("version", "share")):
        out.append(
            Shadow(_str(item, "version", at), _number(item, "share", at, math.nan, 1e-6, 1.0))
        )
    return tuple(out)


def validate_routing(config: RoutingConfig) -> None:
    """Rules that span experiments: unique keys, disjoint ranges of the running and paused
    ones (a paused one keeps its range to resume in)."""
    keys = [e.key for e in config.experiments]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ConfigError(
            "experiments", f"experiment keys must be unique, duplicated: {duplicates}"
        )
    live = sorted(config.live, key=lambda e: e.namespace_range)
    for before, after in itertools.pairwise(live):
        if after.namespace_range[0] < before.namespace_range[1]:
            raise ConfigError(
                f"experiments {before.key!r} and {after.key!r}",
                f"namespace ranges {list(before.namespace_range)} and "
                f"{list(after.namespace_range)} overlap in namespace {config.namespace_id!r}; "
                "running and paused experiments need disjoint ranges",
            )
    if config.production is None and (live or config.shadows):
        raise ConfigError(
            "config.production",
            f"is required while {'experiments run' if live else 'versions run in shadow'}: "
            "the users outside an experiment, and the searches a shadow scores, are "
            "production's (set it first: PUT /v1/production)",
        )
    shadows = [s.version for s in config.shadows]
    if len(set(shadows)) != len(shadows):
        raise ConfigError("config.shadows", f"one entry per version, got {shadows}")
    if config.production in shadows:
        raise ConfigError(
            "config.shadows", f"{config.production!r} is production: it cannot also be a shadow"
        )
    if config.holdout is not None and config.holdout.active and config.production is None:
        raise ConfigError(
            "config.holdout",
            "needs a production version: the users outside the holdout are production's "
            "(set it first: PUT /v1/production)",
        )
    if config.frozen and config.running:
        raise ConfigError(
            "config.frozen",
            f"experiments cannot run while frozen: {[e.key for e in config.running]}",
        )


def load_routing_file(path: Path) -> RoutingConfig:
    """Read a TOML routing config from ``configs/``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from exc
    return parse_routing(data)
