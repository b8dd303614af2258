"""The API's 2xx answers as msgspec types: each handler's answer is checked against its type
(:func:`gateway.http.errors.answer`) and the OpenAPI document is generated from the same
types, so neither can drift from what is sent.

Answers may grow fields (a client ignores what it does not know), so these types do not
forbid unknown ones; a field named here is always sent, with this type. Records whose shape
belongs to another module (a model's gate results, an evaluation's carried state) are objects
here, described.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from gateway.holdout_report import HoldoutReport
from gateway.http.api_experiment import ExperimentView
from gateway.results import Alert, FunnelStep, MetricResult, SegmentResult, TimeToDecision

Version = Annotated[int, Meta(description="the routing config's version (each change adds one)")]


class Diff(Struct):
    """One leaf of a change: where, and its value before and after."""

    path: str
    old: Any
    new: Any


# Serving


class Ranked(Struct):
    item_id: int | str
    score: float


class Assignment(Struct):
    """An experiment the user is in, and their arm."""

    experiment: str
    variant: str
    model_version: str
    phase: int


class SearchAnswer(Struct):
    search_id: Annotated[
        str, Meta(description="send it back with the events on this page (signed for the user)")
    ]
    model_version: Annotated[
        str,
        Meta(
            description="the version that ranked this page: production when a treatment "
            "could not (its arm stays in assignments), 'interleaved' for a merged page"
        ),
    ]
    results: list[Ranked]
    assignments: list[Assignment]


class EventsAccepted(Struct):
    accepted: Annotated[int, Meta(ge=1, description="how many events were kept")]


# Experiments and the routing config


class ShadowShare(Struct):
    version: str
    share: float


class RoutingView(Struct):
    """``GET /v1/experiments``: the routing config."""

    version: Version
    production: str | None
    frozen: bool
    namespace_id: str
    shadows: list[ShadowShare]
    experiments: list[ExperimentView]
    holdout: HoldoutSettings | None = None


class ExperimentChange(Struct):
    """A change of one experiment: the config's new version, the diff, the experiment."""

    version: Version
    diff: list[Diff]
    experiment: ExperimentView


class ExperimentVerbAnswer(ExperimentChange, kw_only=True):
    """A lifecycle verb's answer: the change and the routing it leaves."""

    production: str | None
    frozen: bool


class Decision(Struct):
    action: str
    winner: str | None
    reasons: list[str]
    blocked_by: list[str]
    stopped: list[str] = []
    rule: Annotated[
        str | None,
        Meta(
            description="the rule that fired: min_units, srm, success, min_runtime, "
            "deterioration, guardrail, inferior, max_runtime, horizon, no_difference, "
            "operational (None: a bandit's or interleaving's decision, or an older record)"
        ),
    ] = None


class LatencyTest(Struct, kw_only=True):
    """A treatment's latency guardrail: its scoring-time quantile over the control's, by an
    always-valid sequential test (each end of the interval one-sided at the experiment's α)."""

    quantile: Annotated[float, Meta(description="which quantile: 0.99, the p99")]
    ratio: Annotated[float | None, Meta(description="treatment's quantile / control's")]
    ci_low: float
    ci_high: Annotated[float | None, Meta(description="None: not bounded yet")]
    margin: Annotated[float, Meta(description="max_latency_ratio: breached above it")]
    p_value: Annotated[float, Meta(description="always-valid, of ratio <= margin")]
    breached: bool


class ArmOps(Struct, kw_only=True):
    """One arm's operational health in the phase."""

    variant: str
    requests: Annotated[int, Meta(description="scorings, failed ones included")]
    errors: Annotated[int, Meta(description="failed or timed-out scorings")]
    error_rate: float
    p50_ms: Annotated[float | None, Meta(description="upper edge of its histogram bucket")]
    p99_ms: float | None
    latency: Annotated[LatencyTest | None, Meta(description="a treatment's latency test")] = None


class Evaluation(Struct, kw_only=True):
    """One evaluation of an experiment by the worker."""

    experiment: str
    phase: int
    ts: float
    metric: str
    alpha: float
    runtime_s: float
    method: str | None
    look: int
    units: dict[str, int]
    means: Annotated[dict[str, float | None], Meta(description="null: no users yet")]
    srm_p_value: float | None
    arms: Annotated[
        list[dict[str, Any]],
        Meta(
            description="each treatment: variant, units, estimate, interval, p-values, guardrails"
        ),
    ]
    decision: Decision
    cuped: bool
    variance_reduction: float | None
    tuning_units: float | None = None
    applied_version: int | None = None
    state: dict[str, Any] = {}
    interleaving: dict[str, Any] | None = None
    boundaries: dict[str, Any] | None = None
    ops: Annotated[list[ArmOps], Meta(description="each arm's health, the control's first")] = []
    metrics: Annotated[
        list[MetricResult],
        Meta(
            description="every metric: each arm's value (the control first), each treatment's "
            "lift with its always-valid interval, its test and role"
        ),
    ] = []
    time_to_decision: Annotated[
        TimeToDecision | None,
        Meta(description="units and days until the success test concludes at the planned effect"),
    ] = None
    segments: Annotated[
        list[SegmentResult],
        Meta(description="the success metric in each segment of the deployment's dimensions"),
    ] = []
    funnel: Annotated[
        list[FunnelStep],
        Meta(description="search → click → add-to-cart → purchase: each step's conversion"),
    ] = []
    alerts: Annotated[
        list[Alert],
        Meta(
            description="differential impact by segment, segment SRM, pre-exposure bias, event "
            "health: never acted on, but event health holds a promotion"
        ),
    ] = []


Sums = Annotated[
    dict[str, dict[str, int]], Meta(description="variant -> its exact integer sums (users, ...)")
]


class PhaseResult(Struct):
    phase: int
    stats: Sums
    last_evaluation: Evaluation | None
    weights: list[float] | None = None
    started_at: float | None = None


class BanditPeriod(Struct):
    period: int
    weights: list[float] | dict[str, float] | None
    units: dict[str, int]


class ExperimentDetail(ExperimentView, kw_only=True):
    """``GET /v1/experiments/{key}``: the experiment, its statistics and last evaluation (an
    A/B or interleaved one: by phase; a bandit: over every period, and the periods)."""

    last_evaluation: Evaluation | None
    phase: int | None = None
    stats: Sums | None = None
    phase_results: list[PhaseResult] | None = None
    periods: list[BanditPeriod] | None = None
    periods_shown_from: int | None = None


class HistoryArm(Struct, kw_only=True):
    variant: str
    scale: Literal["relative", "absolute"]
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool


class HistoryPoint(Struct, kw_only=True):
    """One evaluation, reduced to what a chart over time needs (EvaluationRecord.point)."""

    ts: float
    phase: int = 0
    look: int | None = None
    runtime_s: Annotated[float | None, Meta(description="paused time excluded")] = None
    units: Annotated[dict[str, int], Meta(description="users per arm")] = {}
    srm_p_value: float | None = None
    cuped: bool | None = None
    action: Annotated[str | None, Meta(description="the decision: continue, promote, ...")] = None
    blocked_by: Annotated[list[str], Meta(description="what held a decision back")] = []
    arms: list[HistoryArm] = []


class History(Struct):
    experiment: str
    points: Annotated[list[HistoryPoint], Meta(description="oldest first")]


# Production, freeze, shadows


class ProductionChangeRecord(Struct, rename={"from_": "from"}):
    from_: str | None
    to: str | None
    actor: str
    reason: str
    ts: float
    experiment: Annotated[str | None, Meta(description="the experiment that promoted it")] = None
    version: int | None = None
    audit_id: str | None = None


class ProductionView(Struct):
    production: str | None
    frozen: bool
    history: Annotated[list[ProductionChangeRecord], Meta(description="newest first")]


class DimensionView(Struct):
    name: str
    source: Annotated[str, Meta(description="context.<key>, shopper or query_class")]
    values: Annotated[list[str], Meta(description="kept values; any other counts as 'other'")]


class ExperimentSegments(Struct):
    """``GET /v1/experiments/{key}/segments``: one metric in every segment of the phase."""

    experiment: str
    phase: int
    metric: str
    dimensions: Annotated[list[str], Meta(description="the dimensions this phase has segments of")]
    segments: list[SegmentResult]
    alerts: list[Alert]


class SegmentDimensions(Struct):
    dimensions: list[DimensionView]


class SegmentsChange(Struct):
    version: Version
    diff: list[Diff]
    dimensions: list[DimensionView]


class RoutingChange(Struct):
    """A change of production or of the freeze: the new version, the diff, the routing."""

    version: Version
    diff: list[Diff]
    production: str | None
    frozen: bool


class LatencyMs(Struct):
    p50: float | None
    p99: float | None


class ShadowFigures(Struct):
    version: str
    share: float
    searches: int
    scored: int
    errors: int
    error_rate: float
    dropped: int
    overlap_at_10: float | None
    kendall_tau: float | None
    rbo: float | None
    score_mean: float | None
    score_std: float | None
    latency_ms: LatencyMs


class Shadows(Struct):
    production: str | None
    shadows: list[ShadowFigures]


class ShadowChange(Struct):
    version: Version
    diff: list[Diff]
    shadows: list[ShadowShare]


# The holdout


class HoldoutSettings(Struct):
    """The deployment's holdout as the routing config keeps it: ``share`` of the users kept
    on ``version``."""

    version: str
    share: float
    started_at: float
    ends_at: Annotated[float | None, Meta(description="its planned end (unix s)")]
    ended_at: Annotated[float | None, Meta(description="when it ended; null while it runs")]
    seed: str
    attribution_window_s: float


class HoldoutConfig(HoldoutSettings):
    stats_id: Annotated[str, Meta(description="whose sums its exposures add to")]
    active: Annotated[bool, Meta(description="routing users: it has not ended")]


class HoldoutView(Struct):
    """``GET /v1/holdout``: the holdout (null: none) and its latest report (null until the
    worker has made one)."""

    holdout: HoldoutConfig | None
    report: HoldoutReport | None


class HoldoutChange(Struct):
    version: Version
    diff: list[Diff]
    holdout: HoldoutConfig | None


# Audit


class AuditEntry(Struct):
    id: Annotated[str, Meta(description="the stream entry id (ms-seq)")]
    actor: str
    reason: str
    ts: float
    version: Annotated[int | None, Meta(description="null: a note that changed no config")]
    diff: list[Diff]
    subjects: Annotated[
        list[str],
        Meta(description="what it concerns: experiment:KEY, model:VERSION, production, ..."),
    ] = []
    model: Annotated[str | None, Meta(description="a model version's change: its version")] = None
    dataset: Annotated[str | None, Meta(description="a dataset registered: its id")] = None
    gate_policy: Annotated[bool | None, Meta(description="the gate policy changed")] = None
    token: Annotated[
        dict[str, Any] | None, Meta(description="a token created or revoked: name, role")
    ] = None
    refused: Annotated[
        dict[str, Any] | None,
        Meta(
            description="a refused attempt: reason, method, route, path, remotes, count, "
            "first_at (refusals of one kind are grouped)"
        ),
    ] = None
    approval: Annotated[
        dict[str, Any] | None,
        Meta(
            description="a change held for a second admin: id, event (requested, approved, "
            "applied, rejected, expired, failed), change, target, requested_by, approved_by "
            "(applied), concerns (the change's subjects)"
        ),
    ] = None
    approval_policy: Annotated[bool | None, Meta(description="the approval policy changed")] = None


class AuditLog(Struct):
    entries: Annotated[list[AuditEntry], Meta(description="newest first")]
    scan_limited: Annotated[
        bool, Meta(description="the scan stopped at its limit: older matches may exist")
    ] = False


class DeadLetter(Struct):
    id: str
    ts: float
    error: str
    stream: str
    entry: str
    event: Any


class DeadLetters(Struct):
    entries: list[DeadLetter]


# Models and datasets


class ModelCardView(Struct, kw_only=True):
    """A version's card: what it declared, its file, its gates and where it is loaded."""

    version: str
    inputs: list[dict[str, Any]]
    output: str
    parent: str | None
    dataset: dict[str, Any]
    offline_metrics: dict[str, Any]
    description: str
    notes: str
    sha256: str
    size_bytes: int
    signature: dict[str, Any]
    registered_by: str
    registered_at: float
    state: Literal["gating", "passed", "failed"]
    gates: dict[str, Any] | None
    override: dict[str, Any] | None
    retired: bool
    usable: Annotated[bool, Meta(description="may take traffic")]
    gates_history: list[dict[str, Any]]
    loaded_by: Annotated[list[str], Meta(description="the processes that have it loaded")]
    in_use_by: Annotated[
        list[str], Meta(description="production, experiments not over, shadows")
    ] = []


class RegisteredModel(ModelCardView, kw_only=True):
    created: Annotated[bool, Meta(description="false: this version held this file already")]


class LoadedModel(Struct):
    version: str
    provider: str
    batcher: dict[str, int]


class Models(Struct):
    production: str | None
    models: list[ModelCardView]
    this_process: list[LoadedModel]


class DatasetView(Struct, kw_only=True):
    id: str
    sha256: str
    format: str
    queries: int
    candidates: int
    features: list[str] | None
    feature_width: int | None
    size_bytes: int
    created_by: str
    created_at: float
    description: str


class CreatedDataset(DatasetView, kw_only=True):
    created: Annotated[bool, Meta(description="false: this id held this content already")]


class BuiltDataset(CreatedDataset, kw_only=True):
    built: dict[str, Any]


class Datasets(Struct):
    datasets: list[DatasetView]


class GatePolicyView(Struct):
    ndcg_margin: float
    latency_budget_ms: float
    latency_candidates: int
    latency_ratio: float | None
    latency_runs: int
    overlap_min: float
    overlap_max: float
    dataset: str | None


class GatePolicyAnswer(Struct):
    policy: GatePolicyView
    stored: Annotated[bool, Meta(description="false: the configured default")]
    diff: list[Diff] | None = None


# Access


class Whoami(Struct):
    name: str
    role: str


class TokenView(Struct):
    name: str
    role: str
    created_at: float
    created_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None


class CreatedToken(TokenView, kw_only=True):
    token: Annotated[str, Meta(description="shown once: keep it")]


class RevokedToken(TokenView, kw_only=True):
    revoked: bool


class Tokens(Struct):
    tokens: list[TokenView]


# Webhooks


class WebhookView(Struct, kw_only=True):
    name: str
    url: str
    events: list[str]
    created_at: float
    created_by: str


class CreatedWebhook(WebhookView, kw_only=True):
    secret: Annotated[str, Meta(description="generated: shown this once, keep it")] | None = None


class RemovedWebhook(WebhookView, kw_only=True):
    removed: bool


class Webhooks(Struct):
    webhooks: list[WebhookView]
    event_types: Annotated[list[str], Meta(description="what an endpoint may subscribe to")]


class WebhookAttempt(Struct, kw_only=True):
    delivery: Annotated[str, Meta(description="the X-Abgate-Delivery id, the same on retries")]
    event_id: str
    type: str
    attempt: int
    ts: float
    outcome: Literal["delivered", "retried", "failed", "dropped"]
    status: Annotated[int, Meta(description="the endpoint's HTTP status")] | None = None
    error: str | None = None
    latency_ms: float | None = None
    next_retry_at: Annotated[float, Meta(description="epoch seconds")] | None = None


class WaitingDelivery(Struct, kw_only=True):
    delivery: str
    event_id: str
    type: str
    attempts: Annotated[int, Meta(description="made so far")]


class WebhookDeliveries(Struct):
    webhook: str
    waiting: Annotated[list[WaitingDelivery], Meta(description="not yet delivered nor given up")]
    attempts: Annotated[list[WebhookAttempt], Meta(description="the delivery log, newest first")]


# Operations


class Health(Struct):
    status: Literal["ok"]
    pid: int
    config_version: int
    deployment: str


class Ready(Struct):
    ready: bool
    searches: Annotated[bool, Meta(description="production is loaded here")]
    pid: int
    config_version: int
    production: str | None
    models: list[str]
    redis_ok: bool
    why: str | None = None


class MetricsJson(Struct):
    pid: int
    config_version: int
    counters: dict[str, Any]
    sink: dict[str, int | None]
    batchers: dict[str, dict[str, int]]
