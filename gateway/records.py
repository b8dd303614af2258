"""Typed records at the process boundaries: what a gateway writes to the event streams and the
worker reads back. One definition of each field, encoded and decoded here only, so that the
gateway, the worker and the tests cannot read a field by a misspelt name.

Decoding is strict about the fields the worker acts on (a wrong type or a missing one raises
:class:`RecordError` naming it, and the worker moves the entry to the dead-letter stream) and
lenient about the rest, which older gateways may not have written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast

import msgspec
import numpy as np
import orjson

from gateway.inference.feature_table import FeatureTable
from gateway.results import Alert, FunnelStep, MetricResult, SegmentResult, TimeToDecision

OutcomeType = Literal["click", "add_to_cart", "purchase"]
OUTCOME_TYPES: Final = ("click", "add_to_cart", "purchase")


class RecordError(ValueError):
    """A stream entry that is not a record this version writes; the message names the field."""


def _object(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    data = orjson.loads(raw) if isinstance(raw, bytes | bytearray | str) else raw
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _str(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a string, got {value!r}")
    return value


def _number(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _int(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: expected an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class AssignmentRecord:
    experiment: str
    variant: str
    model_version: str
    phase: int = 0  # the experiment's phase when it was served (a weight change starts one)

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "variant": self.variant,
            "model_version": self.model_version,
            "phase": self.phase,
        }


@dataclass(frozen=True)
class InterleavedPage:
    """How an interleaved page was merged (:func:`gateway.interleave.team_draft.team_draft`):
    the seed that re-derives it, team i's version, and per slot of the exposure's ``items``
    the team that placed it and whether the versions disagreed there. ``credit`` is the event
    type that counts for a team, on an item of this page: a purchase at checkout (no search
    id) credits no team."""

    seed: int
    versions: tuple[str, ...]
    teams: tuple[int, ...]
    competitive: tuple[bool, ...]
    credit: str = "click"

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "versions": list(self.versions),
            "teams": list(self.teams),
            "competitive": list(self.competitive),
            "credit": self.credit,
        }

    @classmethod
    def from_json(cls, data: Any, slots: int) -> InterleavedPage:
        if not isinstance(data, dict):
            raise RecordError(f"interleaving: expected an object, got {data!r}")
        versions = data.get("versions")
        if (
            not isinstance(versions, list)
            or len(versions) < 2
            or not all(isinstance(v, str) for v in versions)
        ):
            raise RecordError(f"interleaving.versions: expected 2 or more names, got {versions!r}")
        teams, competitive = data.get("teams"), data.get("competitive")
        if (
            not isinstance(teams, list)
            or len(teams) != slots
            or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < len(versions)
                for t in teams
            )
        ):
            raise RecordError(
                f"interleaving.teams: expected {slots} team indices below {len(versions)}, "
                f"got {teams!r}"
            )
        if (
            not isinstance(competitive, list)
            or len(competitive) != slots
            or not all(isinstance(c, bool) for c in competitive)
        ):
            raise RecordError(
                f"interleaving.competitive: expected {slots} booleans, got {competitive!r}"
            )
        credit = data.get("credit", "click")
        if credit not in OUTCOME_TYPES:
            raise RecordError(
                f"interleaving.credit: expected one of {list(OUTCOME_TYPES)}, got {credit!r}"
            )
        return cls(_int(data, "seed", 0), tuple(versions), tuple(teams), tuple(competitive), credit)


@dataclass(frozen=True)
class ExposureRecord:
    """One search served: who, by which version, in which experiment arms, what was shown."""

    event_id: str
    search_id: str
    user_id: str
    ts: float = 0.0
    config_version: int = 0
    model_version: str = ""
    assignments: tuple[AssignmentRecord, ...] = ()
    items: tuple[int | str, ...] = ()
    # Set when the page was merged for the (one) interleaved experiment among the assignments.
    interleaving: InterleavedPage | None = None
    # Feature logging (a sampled share of searches): the features of the first
    # ``len(features.values)`` shown items, in page order, as the search carried them, with
    # the search's query and context (a dataset built from traffic needs them).
    features: FeatureTable | None = None
    query: str = ""
    context: dict[str, Any] | None = None
    # The search's segment labels, "dimension=value|..." (gateway.config.segments): the user's
    # segments in each phase, if this is their first exposure in it.
    segments: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "type": "exposure",
                "search_id": self.search_id,
                "user_id": self.user_id,
                "ts": self.ts,
                "config_version": self.config_version,
                "model_version": self.model_version,
                "assignments": [a.to_json() for a in self.assignments],
                "items": list(self.items),
                "interleaving": None if self.interleaving is None else self.interleaving.to_json(),
            }
            | ({"segments": self.segments} if self.segments else {})
            | (
                {}
                if self.features is None
                else {
                    "features": {
                        "names": None if self.features.names is None else list(self.features.names),
                        "values": self.features.values.tolist(),
                    },
                    "query": self.query,
                    "context": self.context or {},
                }
            )
        )

    @classmethod
    def from_json(cls, raw: bytes | dict[str, Any]) -> ExposureRecord:
        data = _object(raw)
        assignments = data.get("assignments", [])
        if not isinstance(assignments, list):
            raise RecordError(f"assignments: expected a list, got {assignments!r}")
        parsed = []
        for i, a in enumerate(assignments):
            if not isinstance(a, dict):
                raise RecordError(f"assignments[{i}]: expected an object, got {a!r}")
            parsed.append(
                AssignmentRecord(
                    _str(a, "experiment"),
                    _str(a, "variant"),
                    _str(a, "model_version", ""),
                    _int(a, "phase", 0),
                )
            )
        items = data.get("items", [])
        if not isinstance(items, list) or not all(
            isinstance(x, int | str) and not isinstance(x, bool) for x in items
        ):
            raise RecordError(f"items: expected a list of item ids, got {items!r}")
        raw_page = data.get("interleaving")
        page = None if raw_page is None else InterleavedPage.from_json(raw_page, len(items))
        features = _logged_features(data.get("features"), len(items))
        return cls(
            event_id=_str(data, "event_id"),
            search_id=_str(data, "search_id"),
            user_id=_str(data, "user_id"),
            ts=_number(data, "ts", 0.0),
            config_version=_int(data, "config_version", 0),
            model_version=_str(data, "model_version", ""),
            assignments=tuple(parsed),
            items=tuple(items),
            interleaving=page,
            features=features,
            query=_str(data, "query", "") if features is not None else "",
            context=_context(data.get("context")) if features is not None else None,
            segments=_str(data, "segments", ""),
        )


def _context(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RecordError(f"context: expected an object, got {raw!r}")
    return raw


def _logged_features(raw: Any, shown: int) -> FeatureTable | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RecordError(f"features: expected an object of names and values, got {raw!r}")
    names, values = raw.get("names"), raw.get("values")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise RecordError(f"features.names: expected a list of names, got {names!r}")
    try:
        table = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise RecordError("features.values: expected rows of numbers") from None
    width = len(names) if names is not None else (table.shape[1] if table.ndim == 2 else 0)
    if table.size == 0:
        table = table.reshape(0, width)
    if table.ndim != 2 or table.shape[0] > shown or table.shape[1] != width:
        raise RecordError(
            f"features.values: expected at most {shown} rows of {width} numbers, "
            f"got shape {list(table.shape)}"
        )
    return FeatureTable(table, None if names is None else tuple(names))


def _item_id(data: dict[str, Any]) -> int | str:
    value = data.get("item_id", 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RecordError(f"item_id: expected a string or an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class OutcomeRecord:
    """What a shopper did after a search: a click, an add-to-cart or a purchase. A purchase
    at checkout names no search: its ``search_id`` is ``""``."""

    event_id: str
    type: OutcomeType
    search_id: str
    user_id: str
    item_id: int | str = 0
    position: int = 0
    value: float = 0.0
    ts: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "type": self.type,
                "search_id": self.search_id,
                "user_id": self.user_id,
                "item_id": self.item_id,
                "position": self.position,
                "value": self.value,
                "ts": self.ts,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | dict[str, Any]) -> OutcomeRecord:
        data = _object(raw)
        kind = data.get("type")
        if kind not in OUTCOME_TYPES:
            raise RecordError(f"type: expected one of {list(OUTCOME_TYPES)}, got {kind!r}")
        search_id = _str(data, "search_id")
        if not search_id and kind != "purchase":
            raise RecordError(f"search_id: a {kind} names its search, got {search_id!r}")
        return cls(
            event_id=_str(data, "event_id"),
            type=cast(OutcomeType, kind),
            search_id=search_id,
            user_id=_str(data, "user_id", ""),
            item_id=_item_id(data),
            position=_int(data, "position", 0),
            value=_number(data, "value", 0.0),
            ts=_number(data, "ts", 0.0),
        )


@dataclass(frozen=True)
class Estimate:
    """An effect with its always-valid interval and p-value (an infinite end is None in JSON)."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Estimate:
        return cls(
            _float_or_nan(data["estimate"]),
            _optional_float(data.get("ci_low")),
            _optional_float(data.get("ci_high")),
            _float_or_nan(data["p_value"]),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_or_nan(value: Any) -> float:
    """A float field as stored: NaN (an arm with no users yet has no mean) is written as JSON
    null, and reads back as NaN."""
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    margin: float
    breached: bool
    effect: Estimate

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "margin": self.margin, "breached": self.breached} | (
            self.effect.to_json()
        )


@dataclass(frozen=True)
class ArmResult:
    """One treatment against control: the effect on the primary metric and each guardrail."""

    variant: str
    units: int
    relative: bool  # lift over control; False: an absolute difference (control mean 0)
    effect: Estimate
    p_adjusted: float | None
    p_boundary: float | None
    significant: bool
    guardrails: tuple[GuardrailResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "units": self.units,
            "scale": "relative" if self.relative else "absolute",
            "relative_lift": self.effect.estimate if self.relative else None,
            **self.effect.to_json(),
            "p_adjusted": self.p_adjusted,
            "p_boundary": self.p_boundary,
            "significant": self.significant,
            "guardrails": [g.to_json() for g in self.guardrails],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArmResult:
        return cls(
            variant=str(data["variant"]),
            units=int(data["units"]),
            relative=data.get("scale", "relative") == "relative",
            effect=Estimate.from_json(data),
            p_adjusted=_optional_float(data.get("p_adjusted")),
            p_boundary=_optional_float(data.get("p_boundary")),
            significant=bool(data["significant"]),
            guardrails=tuple(
                GuardrailResult(
                    str(g["metric"]), float(g["margin"]), bool(g["breached"]), Estimate.from_json(g)
                )
                for g in data.get("guardrails", [])
            ),
        )


@dataclass(frozen=True)
class PairReport:
    """One pair of an interleaved experiment: users preferring ``a`` (positive) or ``b``."""

    a: str
    b: str
    positive: int
    negative: int
    users: int  # users with a verdict search in the pair (ties included)
    won: int  # searches a won
    lost: int  # searches b won
    preference: float  # (positive − negative) / (positive + negative)
    p_value: float
    p_adjusted: float
    significant: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "positive": self.positive,
            "negative": self.negative,
            "users": self.users,
            "won": self.won,
            "lost": self.lost,
            "preference": self.preference,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairReport:
        return cls(
            str(data["a"]),
            str(data["b"]),
            int(data["positive"]),
            int(data["negative"]),
            int(data["users"]),
            int(data["won"]),
            int(data["lost"]),
            _float_or_nan(data["preference"]),
            _float_or_nan(data["p_value"]),
            _float_or_nan(data["p_adjusted"]),
            bool(data["significant"]),
        )


@dataclass(frozen=True)
class InterleavingReport:
    """What an interleaved experiment's evaluation found: the pairs' sign tests, the versions
    most preferred first, the competitive-slot share, and the events credited to each team."""

    searches: int
    slots: int
    competitive_share: float | None
    order: tuple[str, ...]
    pairs: tuple[PairReport, ...]
    credited: dict[str, dict[str, int]]  # variant -> event type -> events on its slots
    settled: int = 0  # users whose preferences count: their searches are over

    def to_json(self) -> dict[str, Any]:
        return {
            "searches": self.searches,
            "slots": self.slots,
            "competitive_share": self.competitive_share,
            "order": list(self.order),
            "pairs": [p.to_json() for p in self.pairs],
            "credited": self.credited,
            "settled": self.settled,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InterleavingReport:
        return cls(
            int(data["searches"]),
            int(data["slots"]),
            _optional_float(data.get("competitive_share")),
            tuple(str(v) for v in data["order"]),
            tuple(PairReport.from_json(p) for p in data["pairs"]),
            {
                str(v): {str(k): int(n) for k, n in kinds.items()}
                for v, kinds in data.get("credited", {}).items()
            },
            int(data.get("settled", 0)),
        )


@dataclass(frozen=True)
class LatencyTestRecord:
    """The latency guardrail's always-valid test of one treatment (gateway.ops.guardrails):
    its quantile over the control's, the ratio's interval (each end one-sided at α; an
    unbounded end is None), the margin it is held to, and whether it is breached."""

    quantile: float
    ratio: float | None
    ci_low: float
    ci_high: float | None
    margin: float
    p_value: float
    breached: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "quantile": self.quantile,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "margin": self.margin,
            "p_value": self.p_value,
            "breached": self.breached,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyTestRecord:
        return cls(
            _float_or_nan(data["quantile"]),
            _optional_float(data.get("ratio")),
            _float_or_nan(data["ci_low"]),
            _optional_float(data.get("ci_high")),
            _float_or_nan(data["margin"]),
            _float_or_nan(data["p_value"]),
            bool(data["breached"]),
        )


@dataclass(frozen=True)
class ArmOpsRecord:
    """One arm's operational health in a phase: scorings, failures, scoring-time p50 and p99
    (None without a timed scoring), and on a treatment its latency test."""

    variant: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    latency: LatencyTestRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "latency": None if self.latency is None else self.latency.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArmOpsRecord:
        latency = data.get("latency")
        return cls(
            str(data["variant"]),
            int(data["requests"]),
            int(data["errors"]),
            _float_or_nan(data["error_rate"]),
            _optional_float(data.get("p50_ms")),
            _optional_float(data.get("p99_ms")),
            None if latency is None else LatencyTestRecord.from_json(latency),
        )


@dataclass(frozen=True)
class DecisionRecord:
    action: str  # continue, promote, rollback, stop-inconclusive, stop-arms
    winner: str | None
    reasons: tuple[str, ...]
    # What keeps a decision from being taken: min_units, srm, min_runtime, guardrail,
    # deterioration.
    blocked_by: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()  # stop-arms: the treatments whose traffic goes to control
    # The rule that fired (stats.decision.Rule; "operational" for an operational guardrail's
    # rollback); None for records without one (bandits, interleaving, older records).
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "winner": self.winner,
            "reasons": list(self.reasons),
            "blocked_by": list(self.blocked_by),
            "stopped": list(self.stopped),
            "rule": self.rule,
        }


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of one experiment, as the worker stores it and the API serves it.

    ``look``, ``tuning_units``, ``state`` and ``boundaries`` carry over to the next evaluation
    (:mod:`gateway.worker.evaluate`)."""

    experiment: str
    ts: float
    metric: str
    alpha: float
    runtime_s: float
    decision: DecisionRecord
    phase: int = 0
    method: str | None = None
    look: int = 0
    tuning_units: float | None = None
    units: dict[str, int] | None = None
    means: dict[str, float] | None = None
    srm_p_value: float | None = None
    arms: tuple[ArmResult, ...] = ()
    state: dict[str, Any] | None = None
    applied_version: int | None = None
    # CUPED on the primary metric: decided when the test's size is planned, then kept.
    cuped: bool = False
    variance_reduction: float | None = None  # 1 − Σ adjusted variances / Σ plain ones
    interleaving: InterleavingReport | None = None  # an interleaved experiment's findings
    # group-sequential: the boundary recursion as of the last look (gateway.worker.carried)
    boundaries: dict[str, Any] | None = None
    # Each arm's operational health, the control's first (gateway.ops.guardrails.review).
    ops: tuple[ArmOpsRecord, ...] = ()
    # Every metric of the catalogue, each arm's value and each treatment's lift (gateway.results)
    metrics: tuple[MetricResult, ...] = ()
    time_to_decision: TimeToDecision | None = None
    # the success metric in each segment, and what the experimenter should look at (gateway.results)
    segments: tuple[SegmentResult, ...] = ()
    alerts: tuple[Alert, ...] = ()
    funnel: tuple[FunnelStep, ...] = ()  # search -> click -> add-to-cart -> purchase

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "phase": self.phase,
            "ts": self.ts,
            "metric": self.metric,
            "alpha": self.alpha,
            "runtime_s": self.runtime_s,
            "method": self.method,
            "look": self.look,
            "tuning_units": self.tuning_units,
            "units": dict(self.units or {}),
            "means": dict(self.means or {}),
            "srm_p_value": self.srm_p_value,
            "arms": [a.to_json() for a in self.arms],
            "decision": self.decision.to_json(),
            "state": dict(self.state or {}),
            "applied_version": self.applied_version,
            "cuped": self.cuped,
            "variance_reduction": self.variance_reduction,
            "interleaving": None if self.interleaving is None else self.interleaving.to_json(),
            "boundaries": self.boundaries,
            "ops": [o.to_json() for o in self.ops],
            "metrics": msgspec.to_builtins(self.metrics),
            "time_to_decision": msgspec.to_builtins(self.time_to_decision),
            "segments": msgspec.to_builtins(self.segments),
            "alerts": msgspec.to_builtins(self.alerts),
            "funnel": msgspec.to_builtins(self.funnel),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_SERIALIZE_NUMPY)

    def point(self) -> dict[str, Any]:
        """The record reduced to what a chart over time needs: one point of the history."""
        return {
            "ts": self.ts,
            "phase": self.phase,
            "look": self.look,
            "runtime_s": self.runtime_s,
            "units": dict(self.units or {}),
            "srm_p_value": self.srm_p_value,
            "cuped": self.cuped,
            "action": self.decision.action,
            "blocked_by": list(self.decision.blocked_by),
            "arms": [
                {
                    "variant": a.variant,
                    "scale": "relative" if a.relative else "absolute",
                    "estimate": a.effect.estimate,
                    "ci_low": a.effect.ci_low,
                    "ci_high": a.effect.ci_high,
                    "significant": a.significant,
                }
                for a in self.arms
            ],
        }

    def rolled_back(self, control: str, breaches: Sequence[str]) -> EvaluationRecord:
        """This record with its decision replaced by a rollback for operational breaches: no
        statistics are needed to stop a ranker that fails or is slow."""
        reasons = tuple(f"operational guardrail: {b}" for b in breaches)
        return replace(
            self, decision=DecisionRecord("rollback", control, reasons, rule="operational")
        )

    @classmethod
    def from_json(cls, raw: bytes | str | dict[str, Any]) -> EvaluationRecord:
        data = _object(raw)
        try:
            decision = data["decision"]
            return cls(
                experiment=str(data["experiment"]),
                ts=float(data["ts"]),
                metric=str(data["metric"]),
                alpha=float(data["alpha"]),
                runtime_s=float(data["runtime_s"]),
                decision=DecisionRecord(
                    str(decision["action"]),
                    decision.get("winner"),
                    tuple(decision["reasons"]),
                    tuple(decision.get("blocked_by", ())),
                    tuple(decision.get("stopped", ())),
                    decision.get("rule"),
                ),
                phase=int(data.get("phase", 0)),
                method=data.get("method"),
                look=int(data.get("look", 0)),
                tuning_units=_optional_float(data.get("tuning_units")),
                units={str(k): int(v) for k, v in (data.get("units") or {}).items()},
                means={str(k): _float_or_nan(v) for k, v in (data.get("means") or {}).items()},
                srm_p_value=_optional_float(data.get("srm_p_value")),
                arms=tuple(ArmResult.from_json(a) for a in data.get("arms", [])),
                state=data.get("state") or {},
                applied_version=data.get("applied_version"),
                cuped=bool(data.get("cuped", False)),
                variance_reduction=_optional_float(data.get("variance_reduction")),
                interleaving=(
                    None
                    if data.get("interleaving") is None
                    else InterleavingReport.from_json(data["interleaving"])
                ),
                boundaries=data.get("boundaries"),
                ops=tuple(ArmOpsRecord.from_json(o) for o in data.get("ops") or ()),
                metrics=msgspec.convert(data.get("metrics") or (), tuple[MetricResult, ...]),
                time_to_decision=msgspec.convert(
                    data.get("time_to_decision"), TimeToDecision | None
                ),
                segments=msgspec.convert(data.get("segments") or (), tuple[SegmentResult, ...]),
                alerts=msgspec.convert(data.get("alerts") or (), tuple[Alert, ...]),
                funnel=msgspec.convert(data.get("funnel") or (), tuple[FunnelStep, ...]),
            )
        except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
            raise RecordError(f"evaluation record: {exc!r}") from None
