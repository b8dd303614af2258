"""Pure config changes: every lifecycle step of an experiment and of production, and the diff.

Each function takes the current :class:`RoutingConfig` and returns the next one,
or raises: :class:`NotFound` (no such experiment), :class:`Conflict` (the step
breaks the lifecycle: starting a concluded experiment, promoting one that is not
running, starting or resuming while frozen) or :class:`ConfigError` (a value breaks a rule;
the message names the field). The result is re-validated through the same
parser as a config file, so a change can never produce a config that a file
could not. Whether the versions a change routes to are registered, gated and
loaded is checked by the caller, which knows the registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from gateway.config import (
    Experiment,
    Outcome,
    PausedBy,
    Phase,
    RoutingConfig,
    Shadow,
    experiment_to_dict,
    parse_experiment,
    routing_to_dict,
    validate_routing,
)
from gateway.config.segments import Dimension
from gateway.errors import ConfigError, Conflict, NotFound

# Fields of an experiment that a running one may still change (the rest fix its test).
EDITABLE_WHEN_RUNNING: Final = ("weights", "coverage")
# Fields no edit may set: the lifecycle verbs own them.
LIFECYCLE_FIELDS: Final = (
    "key",
    "status",
    "outcome",
    "phases",
    "ramp_step",
    "ramp_step_started_at",
    "period",
    "period_started_at",
    "paused_at",
    "paused_by",
    "paused_s",
)


def _get(config: RoutingConfig, key: str) -> Experiment:
    try:
        return config.experiment(key)
    except KeyError:
        raise NotFound(f"experiment {key!r} does not exist") from None


def _checked(config: RoutingConfig) -> RoutingConfig:
    validate_routing(config)
    return config


def create_experiment(config: RoutingConfig, data: Mapping[str, Any]) -> RoutingConfig:
    """A new experiment, as a draft, from the same fields as ``configs/experiments.toml``."""
    if not isinstance(data, Mapping):
        raise ConfigError("experiment", f"expected an object, got {type(data).__name__}")
    for name in ("status", "outcome"):
        if name in data and data[name] != {"status": "draft", "outcome": "none"}[name]:
            raise ConfigError(
                f"experiment.{name}",
                "an experiment is created as a draft; start it with POST "
                "/v1/experiments/{key}/start",
            )
    experiment = parse_experiment({**data, "status": "draft", "outcome": "none"}, "experiment")
    if config.has(experiment.key):
        raise Conflict(
            f"experiment {experiment.key!r} already exists (status "
            f"{config.experiment(experiment.key).status!r}); keys are never reused"
        )
    return _checked(config.with_experiment(experiment))


def edit_experiment(
    config: RoutingConfig, key: str, patch: Mapping[str, Any], now: float
) -> RoutingConfig:
    """Edit one experiment: any field of a draft; ``weights`` and ``coverage`` of a running or
    paused one.

    ``weights`` is an object of variant name -> weight. New weights on a running experiment
    start a new phase at ``now`` (re-randomised, its statistics apart: see :class:`Phase`);
    a coverage change does not (an included user keeps their arm as coverage grows).
    """
    experiment = _get(config, key)
    allowed = {"weights", *Experiment.field_names()} - set(LIFECYCLE_FIELDS)
    unknown = sorted(set(patch) - allowed - set(LIFECYCLE_FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown field; allowed: {sorted(allowed)}")
    owned = sorted(set(patch) & set(LIFECYCLE_FIELDS))
    if owned:
        raise ConfigError(
            owned[0],
            "is set by the lifecycle: POST /v1/experiments/{key}/start, /pause, /resume, /stop, "
            "/promote or /archive",
        )
    if experiment.live:
        if experiment.bandit is not None and "weights" in patch:
            raise Conflict(
                f"experiment {key!r} is a bandit: its weights are the worker's to set (every "
                f"{experiment.bandit.update_every_s:g} s, from the rewards); stop it to take over"
            )
        if experiment.ramp and "coverage" in patch:
            raise Conflict(
                f"experiment {key!r} follows its ramp schedule (step {experiment.ramp_step + 1} "
                f"of {len(experiment.ramp)}); its coverage is the worker's to advance"
            )
        fixed = sorted(set(patch) - set(EDITABLE_WHEN_RUNNING))
        if fixed:
            raise Conflict(
                f"experiment {key!r} is {experiment.status}: only {list(EDITABLE_WHEN_RUNNING)} "
                "can change; "
                f"{fixed} fix its test (stop it and create a new experiment)"
            )
    elif experiment.status != "draft":
        raise Conflict(
            f"experiment {key!r} is {experiment.status} (outcome {experiment.outcome!r}) and "
            "cannot change; its results stay as they were"
        )
    data = experiment_to_dict(experiment)
    data.update({k: v for k, v in patch.items() if k != "weights"})
    if "ramp" in patch and "coverage" not in patch:
        data.pop("coverage")  # a ramp schedule sets the coverage: its first step's
    if "weights" in patch:
        weights = patch["weights"]
        if not isinstance(weights, dict) or not weights:
            raise ConfigError(
                "weights", f"expected an object of variant name -> weight, got {weights!r}"
            )
        names = [v["name"] for v in data["variants"]]
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(
                "weights", f"unknown variant(s) {unknown} in {key!r}; variants: {names}"
            )
        missing = sorted(set(names) - set(weights))
        if missing:
            raise ConfigError("weights", f"every variant needs a weight; missing {missing}")
        data["variants"] = [dict(v, weight=weights[v["name"]]) for v in data["variants"]]
    updated = parse_experiment(data, "experiment")  # names the key itself: "experiment 'k'.x"
    weights = tuple(v.weight for v in updated.variants)
    if experiment.live and weights != tuple(v.weight for v in experiment.variants):
        phases = experiment.phases or (Phase(tuple(v.weight for v in experiment.variants), 0.0),)
        updated = replace(updated, phases=(*phases, Phase(weights, now)))
    return _checked(config.with_experiment(updated))


def start(config: RoutingConfig, key: str, now: float) -> RoutingConfig:
    """A draft starts running at ``now``: its first phase, with its weights."""
    experiment = _get(config, key)
    if experiment.status != "draft":
        raise Conflict(
            f"experiment {key!r} is {experiment.status} (outcome {experiment.outcome!r}); only "
            "a draft can start, and a key is never reused: create a new experiment"
        )
    if config.frozen:
        raise Conflict("experiments are frozen (POST /v1/freeze); lift it with DELETE /v1/freeze")
    for other in config.live:
        a, b = experiment.namespace_range, other.namespace_range
        if a[0] < b[1] and b[0] < a[1]:
            raise Conflict(
                f"experiment {key!r} namespace_range {list(a)} overlaps {other.status} experiment "
                f"{other.key!r} {list(b)} in namespace {config.namespace_id!r}"
            )
    if experiment.bandit is not None:  # periods, not phases: see Experiment.period
        started = replace(experiment, status="running", period=0, period_started_at=now)
    else:
        phase = Phase(tuple(v.weight for v in experiment.variants), now)
        started = replace(experiment, status="running", phases=(phase,))
    if experiment.ramp:
        started = _at_ramp_step(started, 0, now)
    return _checked(config.with_experiment(started))


def _at_ramp_step(experiment: Experiment, step: int, now: float) -> Experiment:
    return replace(
        experiment,
        coverage=experiment.ramp[step].coverage,
        ramp_step=step,
        ramp_step_started_at=now,
    )


def advance_ramp(config: RoutingConfig, key: str, step: int, now: float) -> RoutingConfig:
    """The worker's change: the experiment's ramp goes from ``step`` to the next step at ``now``
    (refused if another change moved it meanwhile, or it no longer runs)."""
    experiment = _get(config, key)
    if not experiment.running:
        raise Conflict(
            f"experiment {key!r} is {experiment.status}, not running: its ramp does not advance"
        )
    if experiment.ramp_step != step:
        raise Conflict(f"experiment {key!r} is not at ramp step {step} any more")
    if step + 1 >= len(experiment.ramp):
        raise Conflict(f"experiment {key!r} is at the last step of its ramp")
    nxt = experiment.ramp[step + 1]
    return _checked(
        config.with_experiment(
            replace(experiment, coverage=nxt.coverage, ramp_step=step + 1, ramp_step_started_at=now)
        )
    )


def rebalance(
    config: RoutingConfig, key: str, period: int, weights: tuple[float, ...], now: float
) -> RoutingConfig:
    """The worker's change to a running bandit: ``weights`` from ``now`` on, in period
    ``period + 1`` (refused if the bandit has moved past ``period`` or no longer runs)."""
    experiment = _get(config, key)
    if experiment.bandit is None or not experiment.running or experiment.period != period:
        raise Conflict(f"experiment {key!r} is not a running bandit in period {period} any more")
    if len(weights) != len(experiment.variants):
        raise ConfigError("weights", f"expected {len(experiment.variants)}, got {len(weights)}")
    variants = tuple(
        replace(v, weight=w) for v, w in zip(experiment.variants, weights, strict=True)
    )
    updated = replace(experiment, variants=variants, period=period + 1, period_started_at=now)
    updated = parse_experiment(experiment_to_dict(updated), "experiment")  # sums, floor
    return _checked(config.with_experiment(updated))


def stop_arms(
    config: RoutingConfig, key: str, phase: int, arms: tuple[str, ...], now: float
) -> RoutingConfig:
    """The decision loop's change to a running A/B test: the treatments ``arms`` take no more
    traffic — their weight goes to the control — from ``now`` on, in a new phase, while the
    others go on (refused if the experiment has left ``phase`` or no longer runs)."""
    experiment = _get(config, key)
    if not experiment.running:
        raise Conflict(
            f"experiment {key!r} is {experiment.status}, not running: no arm of it can be stopped"
        )
    if experiment.bandit is not None or experiment.interleaved:
        raise Conflict(f"experiment {key!r} is {experiment.kind}: only an A/B test stops arms")
    if experiment.phase != phase:
        raise Conflict(f"experiment {key!r} is not in phase {phase} any more")
    names = [v.name for v in experiment.variants]
    control = experiment.control.name
    for arm in arms:
        if arm not in names:
            raise ConfigError("variant", f"{arm!r} is not a variant of {key!r}: {names}")
        if arm == control:
            raise ConfigError("variant", f"{arm!r} is the control of {key!r}: it cannot stop")
    moved = sum(v.weight for v in experiment.variants if v.name in arms)
    weights = {
        v.name: 0.0 if v.name in arms else v.weight + (moved if v.name == control else 0.0)
        for v in experiment.variants
    }
    return edit_experiment(config, key, {"weights": weights}, now)


def _conclude(
    config: RoutingConfig, key: str, outcome: Outcome, by_hand: bool = False
) -> RoutingConfig:
    """A person may conclude a paused experiment (stop it, or promote on what it has shown);
    the decision loop only a running one: a pause holds its decisions."""
    experiment = _get(config, key)
    if not (experiment.running or (by_hand and experiment.status == "paused")):
        paused = experiment.status == "paused"
        raise Conflict(
            f"experiment {key!r} is {experiment.status} (outcome {experiment.outcome!r}), "
            + (
                "and a pause holds every decision: resume it first"
                if paused
                else "not running: it cannot be stopped, promoted or rolled back"
            )
        )
    concluded = replace(experiment, status="concluded", outcome=outcome, paused_at=None)
    return config.with_experiment(replace(concluded, paused_by=None))


def stop(config: RoutingConfig, key: str) -> RoutingConfig:
    """Conclude a running or paused experiment without a winner; its users go back to
    production."""
    return _checked(_conclude(config, key, "stopped", by_hand=True))


def promote(config: RoutingConfig, key: str, variant: str | None = None) -> RoutingConfig:
    """Production becomes ``variant``'s version (default: the one treatment) and the experiment
    concludes, in one change. A person may promote a paused experiment too, on the evidence it
    gathered before the pause."""
    return _promote(config, key, variant, by_hand=True)


def _promote(config: RoutingConfig, key: str, variant: str | None, by_hand: bool) -> RoutingConfig:
    experiment = _get(config, key)
    if variant is None:
        treatments = [v.name for v in experiment.variants[1:]]
        if len(treatments) != 1:
            raise ConfigError("variant", f"name the variant to promote, one of {treatments}")
        variant = treatments[0]
    try:
        winner = experiment.variant(variant)
    except KeyError:
        names = [v.name for v in experiment.variants]
        raise ConfigError("variant", f"{variant!r} is not a variant of {key!r}: {names}") from None
    concluded = _conclude(config, key, "promoted", by_hand)
    return _checked(replace(concluded, production=winner.model_version))


def conclude(
    config: RoutingConfig, key: str, winner: str | None, outcome: Outcome
) -> RoutingConfig:
    """The decision loop's change: promote ``winner``, or conclude with ``outcome`` (refused
    once the experiment is paused or concluded meanwhile)."""
    if outcome == "promoted":
        return _promote(config, key, winner, by_hand=False)
    return _checked(_conclude(config, key, outcome))


def confirm_with_ab(config: RoutingConfig, key: str, winner: str, now: float) -> RoutingConfig:
    """An interleaved experiment's winner goes on to an A/B test, in one change: the
    interleaved experiment concludes (``promoted_to_ab``) and an A/B test of the winner
    against the first variant's version starts in the same namespace range, with the same
    coverage and analysis, its users hashed afresh (its own key). Its key is the
    experiment's with "-ab" (then "-ab2", …, if taken)."""
    experiment = _get(config, key)
    if not experiment.interleaved:
        raise Conflict(f"experiment {key!r} is {experiment.kind}, not interleaved")
    try:
        candidate = experiment.variant(winner)
    except KeyError:
        names = [v.name for v in experiment.variants]
        raise ConfigError("variant", f"{winner!r} is not a variant of {key!r}: {names}") from None
    if candidate == experiment.control:
        raise ConfigError("variant", f"{winner!r} is the control of {key!r}: nothing to confirm")
    base = key[:60]
    ab_key = next(
        k for k in (f"{base}-ab", *(f"{base}-ab{i}" for i in range(2, 1000))) if not config.has(k)
    )
    concluded = _conclude(config, key, "promoted_to_ab")
    control = experiment.control
    data = experiment_to_dict(experiment) | {
        "key": ab_key,
        "kind": "ab",
        "interleaving": None,
        "status": "draft",
        "outcome": "none",
        "seed": "",
        "description": f"A/B confirmation of {key}'s winner {winner} ({candidate.model_version})",
        "variants": [
            {"name": control.name, "model_version": control.model_version, "weight": 0.5},
            {"name": candidate.name, "model_version": candidate.model_version, "weight": 0.5},
        ],
        "phases": [],
        "ramp": [],
        "ramp_step": 0,
        "ramp_step_started_at": 0.0,
        "period": 0,
        "period_started_at": 0.0,
        "require_shadow": None,
    }
    draft = parse_experiment(data, "experiment")
    return start(concluded.with_experiment(draft), ab_key, now)


def pause(config: RoutingConfig, key: str, now: float, by: PausedBy = "hand") -> RoutingConfig:
    """A running experiment routes nobody from ``now`` on (everyone gets production) and
    counts nothing, until it resumes; what it has counted is kept, and no decision is taken."""
    experiment = _get(config, key)
    if not experiment.running:
        raise Conflict(
            f"experiment {key!r} is {experiment.status} (outcome {experiment.outcome!r}); only "
            "a running experiment can be paused"
        )
    return _checked(
        config.with_experiment(replace(experiment, status="paused", paused_at=now, paused_by=by))
    )


def resume(config: RoutingConfig, key: str, now: float) -> RoutingConfig:
    """A paused experiment runs again from ``now``, in the same phase (its users get the arms
    they had). The pause does not count as runtime: its length is added to ``paused_s``, and
    the ramp's hold and the bandit's period clocks move on by it."""
    experiment = _get(config, key)
    if experiment.status != "paused" or experiment.paused_at is None:
        raise Conflict(
            f"experiment {key!r} is {experiment.status} (outcome {experiment.outcome!r}); only "
            "a paused experiment can be resumed"
        )
    if config.frozen:
        raise Conflict(
            f"experiment {key!r} cannot resume while experiments are frozen (POST /v1/freeze); "
            "lifting the freeze (DELETE /v1/freeze) resumes the experiments it paused"
        )
    pause_s = max(0.0, now - experiment.paused_at)
    resumed = replace(
        experiment,
        status="running",
        paused_at=None,
        paused_by=None,
        paused_s=experiment.paused_s + pause_s,
        # 0 means "since the start", which the worker's active clock already corrects.
        ramp_step_started_at=experiment.ramp_step_started_at + pause_s
        if experiment.ramp_step_started_at
        else 0.0,
        period_started_at=experiment.period_started_at + pause_s
        if experiment.period_started_at
        else 0.0,
    )
    return _checked(config.with_experiment(resumed))


def archive(config: RoutingConfig, key: str) -> RoutingConfig:
    experiment = _get(config, key)
    if experiment.status not in ("draft", "concluded"):
        raise Conflict(f"experiment {key!r} is {experiment.status}; stop it before archiving it")
    return config.with_experiment(replace(experiment, status="archived"))


def set_production(config: RoutingConfig, version: str) -> RoutingConfig:
    return replace(config, production=version)


def set_segments(config: RoutingConfig, dimensions: tuple[Dimension, ...]) -> RoutingConfig:
    """The deployment's segment dimensions; users first exposed from now on are counted by
    them (a user's segment is that of their first exposure in a phase)."""
    if dimensions == config.segments:
        raise Conflict("the segment dimensions are already these")
    return replace(config, segments=dimensions)


def rollback_target(
    history: Sequence[Mapping[str, Any]], current: str | None, to: str | None = None
) -> str:
    """The version a rollback moves production to: ``to``, which must have been production
    before (a ``from`` or ``to`` of ``history``, newest first), else the one ``current``
    replaced. Whether it is still registered and ready is the caller's check."""
    if current is None:
        raise Conflict("there is no production version yet, so none to roll back to")
    if to is None:
        if not history or history[0].get("to") != current or history[0].get("from") is None:
            raise Conflict(f"production {current!r} has no earlier production to roll back to")
        return str(history[0]["from"])
    if to == current:
        raise Conflict(f"model version {to!r} is production already")
    earlier = {h.get(side) for h in history for side in ("from", "to")} - {None, current}
    if to not in earlier:
        known = ", ".join(sorted(str(v) for v in earlier)) or "none"
        raise Conflict(
            f"model version {to!r} was never production, so no rollback goes to it "
            f"(earlier productions: {known}); use PUT /v1/production"
        )
    return to


def set_shadow(config: RoutingConfig, version: str, share: float) -> RoutingConfig:
    """Score ``share`` of production's searches with ``version`` too, off the response path."""
    others = tuple(s for s in config.shadows if s.version != version)
    return _checked(replace(config, shadows=(*others, Shadow(version, share))))


def stop_shadow(config: RoutingConfig, version: str) -> RoutingConfig:
    if version not in config.shadow_versions():
        raise NotFound(f"model version {version!r} is not running in shadow")
    return replace(config, shadows=tuple(s for s in config.shadows if s.version != version))


def freeze(config: RoutingConfig, now: float) -> RoutingConfig:
    """Pause every running experiment and keep any from starting or resuming: everyone gets
    production. Lifting it resumes the experiments it paused."""
    paused = config
    for experiment in config.running:
        paused = pause(paused, experiment.key, now, by="freeze")
    return _checked(replace(paused, frozen=True))


def unfreeze(config: RoutingConfig, now: float) -> RoutingConfig:
    """Lift the freeze: the experiments it paused resume; those paused by hand stay paused."""
    lifted = replace(config, frozen=False)
    for experiment in config.experiments:
        if experiment.status == "paused" and experiment.paused_by == "freeze":
            lifted = resume(lifted, experiment.key, now)
    return _checked(lifted)


def diff(old: RoutingConfig, new: RoutingConfig) -> list[dict[str, Any]]:
    """Leaf-level differences, each ``{"path", "old", "new"}``, for the audit record."""
    changes: list[dict[str, Any]] = []
    _diff(routing_to_dict(old), routing_to_dict(new), "", changes)
    return changes


def _diff(a: Any, b: Any, path: str, out: list[dict[str, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list) and _keyed(a) and _keyed(b):
        old, new = {_key(x): x for x in a}, {_key(x): x for x in b}
        for k in [*old, *(k for k in new if k not in old)]:
            _diff(old.get(k), new.get(k), f"{path}[{k!r}]", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append({"path": path, "old": a, "new": b})


def _key(x: Any) -> str:
    return str(x.get("key") or x.get("name") or x.get("version"))


def _keyed(items: list[Any]) -> bool:
    """Lists of experiments, variants or shadows: compared by key (a shadow's by its version,
    so the audit names it), so an added one is one change."""
    return all(
        isinstance(x, dict) and (x.get("key") or x.get("name") or x.get("version")) for x in items
    )
