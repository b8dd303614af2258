"""Every HTTP route in one table: method, path, handler, the role it needs (None: public;
the serving routes' storefront role unless the deployment opened them, ``ABGATE_SERVING_AUTH``).

The app, the auth middleware and the OpenAPI document are all built from this table, so a
route cannot exist without a role decision, and the role tests walk every row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from gateway.access.roles import Role
from gateway.control.approvals import ApprovalRequest
from gateway.http import (
    admin,
    datasets,
    events,
    health,
    holdout,
    lifecycle,
    models,
    search,
    segments,
    shadow,
    tokens,
    webhooks,
)
from gateway.http import api_answers as a
from gateway.http import api_approvals as ap_t
from gateway.http import api_types as t
from gateway.http import approvals as ap
from gateway.schema import Event, EventBatch, SearchBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STOREFRONT: Final = Role.STOREFRONT
VIEWER: Final = Role.VIEWER
EXPERIMENTER: Final = Role.EXPERIMENTER
ADMIN: Final = Role.ADMIN


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role | None
    summary: str
    tag: str
    # The JSON body's type (msgspec) for the OpenAPI document, a tuple for one of several, or
    # an api_types.Upload for a multipart upload.
    body: Any = None
    body_required: bool = True
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    # The 2xx answer's type (msgspec, api_answers): the handler's answer is checked against
    # it and the OpenAPI document shows it. None: not JSON (an SVG, the Prometheus text).
    response: Any = None
    # A change the approval policy may hold for a second admin: its 202 answer's type.
    held: Any = None


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", "/v1/search", search.search, STOREFRONT, "Rank a query's candidates", "serving", SearchBody, response=a.SearchAnswer),
    Route("POST", "/v1/events", events.events, STOREFRONT, "Report clicks, carts, purchases", "serving", (Event, EventBatch), response=a.EventsAccepted),
    Route("GET", "/v1/experiments", admin.list_experiments, VIEWER, "The routing config", "experiments", response=a.RoutingView),
    Route("POST", "/v1/experiments", lifecycle.create, EXPERIMENTER, "Create an experiment (draft)", "experiments", t.ExperimentBody, response=a.ExperimentChange),
    Route("GET", "/v1/experiments/{key}", admin.get_experiment, VIEWER, "One experiment with its statistics and evaluation", "experiments", response=a.ExperimentDetail),
    Route("GET", "/v1/experiments/{key}/history", admin.history, VIEWER, "The experiment's evaluations over time", "experiments", response=a.History),
    Route("GET", "/v1/experiments/{key}/chart.svg", admin.chart, VIEWER, "The lift over time as SVG", "experiments"),
    Route("PATCH", "/v1/experiments/{key}", lifecycle.patch, EXPERIMENTER, "Edit or ramp an experiment", "experiments", t.ExperimentEdit, response=a.ExperimentChange, held=ap_t.PendingApproval),
    Route("POST", "/v1/experiments/{key}/start", lifecycle.start, EXPERIMENTER, "Start a draft", "experiments", t.StartBody, False, response=a.ExperimentVerbAnswer, held=ap_t.PendingApproval),
    Route("POST", "/v1/experiments/{key}/stop", lifecycle.stop, EXPERIMENTER, "Stop a running or paused experiment", "experiments", t.ReasonBody, response=a.ExperimentVerbAnswer),
    Route("POST", "/v1/experiments/{key}/pause", lifecycle.pause, EXPERIMENTER, "Pause a running experiment: everyone gets production, its statistics are kept", "experiments", t.ReasonBody, response=a.ExperimentVerbAnswer),
    Route("POST", "/v1/experiments/{key}/resume", lifecycle.resume, EXPERIMENTER, "Resume a paused experiment, in the same arms", "experiments", t.ReasonBody, response=a.ExperimentVerbAnswer),
    Route("POST", "/v1/experiments/{key}/promote", lifecycle.promote, ADMIN, "Make an arm's version production", "experiments", t.PromoteBody, response=a.ExperimentVerbAnswer, held=ap_t.PendingApproval),
    Route("POST", "/v1/experiments/{key}/archive", lifecycle.archive, EXPERIMENTER, "Archive a concluded experiment", "experiments", t.OptionalReasonBody, False, response=a.ExperimentVerbAnswer),
    Route("GET", "/v1/production", lifecycle.get_production, VIEWER, "Production and its history", "production", response=a.ProductionView),
    Route("PUT", "/v1/production", lifecycle.put_production, ADMIN, "Set production", "production", t.ProductionBody, response=a.RoutingChange, held=ap_t.PendingApproval),
    Route("POST", "/v1/production/rollback", lifecycle.rollback_production, ADMIN, "Back to an earlier production: to (one that was production before), else the previous one", "production", t.RollbackBody, response=a.RoutingChange, held=ap_t.PendingApproval),
    Route("POST", "/v1/freeze", lifecycle.freeze, ADMIN, "Freeze: pause every experiment, everyone gets production", "production", t.ReasonBody, response=a.RoutingChange),
    Route("DELETE", "/v1/freeze", lifecycle.unfreeze, ADMIN, "Unfreeze: resume the experiments the freeze paused", "production", t.OptionalReasonBody, False, response=a.RoutingChange),
    Route("GET", "/v1/shadow", shadow.list_shadows, VIEWER, "Shadow versions and their agreement", "shadow", response=a.Shadows),
    Route("PUT", "/v1/shadow/{version}", shadow.set_shadow, EXPERIMENTER, "Shadow a version on a share of searches", "shadow", t.ShadowBody, response=a.ShadowChange),
    Route("DELETE", "/v1/shadow/{version}", shadow.stop_shadow, EXPERIMENTER, "Stop shadowing a version", "shadow", t.OptionalReasonBody, False, response=a.ShadowChange),
    Route("GET", "/v1/holdout", holdout.get_holdout, VIEWER, "The holdout and its cumulative lift", "holdout", response=a.HoldoutView),
    Route("PUT", "/v1/holdout", holdout.put_holdout, ADMIN, "Begin a holdout: a share of users kept on a baseline version", "holdout", t.HoldoutBody, response=a.HoldoutChange),
    Route("DELETE", "/v1/holdout", holdout.delete_holdout, ADMIN, "End the holdout: its users are routed as everyone else", "holdout", t.ReasonBody, response=a.HoldoutChange),
    Route("GET", "/v1/audit", admin.audit, VIEWER, "The audit trail, newest first, each entry with its subjects; filtered by subject, actor and time", "audit", query=(
        ("count", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100, "description": "the most entries returned (matching the filters)"}),
        ("subject", {"type": "string", "description": "one of the entry's subjects exactly (experiment:KEY, model:VERSION, production, freeze, holdout, shadow:VERSION, dataset:ID, gate-policy, token:NAME, segments, route:METHOD PATH), or a prefix ending in ':' (experiment:)"}),
        ("actor", {"type": "string", "description": "who made the change (a token's name)"}),
        ("since", {"type": "number", "description": "epoch seconds: entries at or after"}),
        ("until", {"type": "number", "description": "epoch seconds: entries at or before"}),
    ), response=a.AuditLog),
    Route("GET", "/v1/dead-letters", admin.dead_letters, VIEWER, "Entries the worker could not count, with why, newest first", "audit", query=(("count", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}),), response=a.DeadLetters),
    Route("GET", "/v1/models", models.list_models, VIEWER, "Model versions with their cards", "models", response=a.Models),
    Route("POST", "/v1/models", models.register, EXPERIMENTER, "Register a version (card + ONNX file)", "models", t.MODEL_UPLOAD, response=a.RegisteredModel),
    Route("GET", "/v1/models/{version}", models.get_model, VIEWER, "One version's card and gates", "models", response=a.ModelCardView),
    Route("DELETE", "/v1/models/{version}", models.retire, EXPERIMENTER, "Retire a version", "models", t.OptionalReasonBody, False, response=a.ModelCardView),
    Route("POST", "/v1/models/{version}/override", models.override, ADMIN, "Let a version whose gates failed take traffic", "models", t.ReasonBody, response=a.ModelCardView, held=ap_t.PendingApproval),
    Route("POST", "/v1/models/{version}/regate", models.regate, EXPERIMENTER, "Run a version's gates again (on a named dataset)", "models", t.RegateBody, False, response=a.ModelCardView),
    Route("GET", "/v1/datasets", datasets.list_datasets, VIEWER, "Evaluation datasets", "datasets", response=a.Datasets),
    Route("POST", "/v1/datasets", datasets.create, EXPERIMENTER, "Register a dataset (JSON lines or Parquet)", "datasets", t.DATASET_UPLOAD, response=a.CreatedDataset),
    Route("POST", "/v1/datasets/from-traffic", datasets.from_traffic, EXPERIMENTER, "Build a dataset from logged searches and their outcomes", "datasets", t.TrafficDatasetBody, response=a.BuiltDataset),
    Route("GET", "/v1/datasets/{dataset}", datasets.get_dataset, VIEWER, "One dataset's metadata", "datasets", response=a.DatasetView),
    Route("GET", "/v1/experiments/{key}/segments", segments.experiment_segments, VIEWER, "The current phase's results on a metric in every segment, with the differential-impact alerts", "experiments", query=(("metric", {"type": "string", "description": "a catalogue metric (default: the experiment's primary)"}), ("dimension", {"type": "string", "description": "one dimension (default: every one)"})), response=a.ExperimentSegments),
    Route("GET", "/v1/segments", segments.get_segments, VIEWER, "The segment dimensions results are broken down by", "experiments", response=a.SegmentDimensions),
    Route("PUT", "/v1/segments", segments.put_segments, ADMIN, "Declare the segment dimensions (audited; users first exposed from now on are counted by them)", "experiments", t.SegmentsBody, response=a.SegmentsChange),
    Route("GET", "/v1/gate-policy", datasets.get_policy, VIEWER, "The gates' thresholds", "models", response=a.GatePolicyAnswer),
    Route("PUT", "/v1/gate-policy", datasets.put_policy, ADMIN, "Change the gates' thresholds (audited)", "models", t.GatePolicyBody, response=a.GatePolicyAnswer),
    Route("GET", "/v1/approval-policy", ap.get_policy, VIEWER, "Which changes need a second admin's approval", "approvals", response=ap_t.ApprovalPolicyAnswer),
    Route("PUT", "/v1/approval-policy", ap.put_policy, ADMIN, "Change which changes need a second admin (audited; loosening a policy in force is itself held)", "approvals", ap_t.ApprovalPolicyBody, response=ap_t.ApprovalPolicyAnswer, held=ap_t.PendingApproval),
    Route("GET", "/v1/approvals", ap.list_approvals, VIEWER, "Changes held for a second admin: pending, and the recent decided ones", "approvals", response=ap_t.Approvals),
    Route("GET", "/v1/approvals/{approval}", ap.get_approval, VIEWER, "One held change: what it would do, who asked, what became of it", "approvals", response=ApprovalRequest),
    Route("POST", "/v1/approvals/{approval}/approve", ap.approve, ADMIN, "Approve a held change (not one's own) and make it now, checked against the config of this moment", "approvals", ap_t.ApproveBody, False, response=ApprovalRequest),
    Route("POST", "/v1/approvals/{approval}/reject", ap.reject, ADMIN, "Reject a held change, saying why", "approvals", t.ReasonBody, response=ApprovalRequest),
    Route("GET", "/v1/whoami", tokens.whoami, VIEWER, "The caller's name and role", "access", response=a.Whoami),
    Route("GET", "/v1/tokens", tokens.list_tokens, ADMIN, "Token names and roles", "access", response=a.Tokens),
    Route("POST", "/v1/tokens", tokens.create_token, ADMIN, "Create a token (shown once)", "access", t.TokenBody, response=a.CreatedToken),
    Route("DELETE", "/v1/tokens/{name}", tokens.revoke_token, ADMIN, "Revoke a token", "access", t.OptionalReasonBody, False, response=a.RevokedToken),
    Route("GET", "/v1/webhooks", webhooks.list_webhooks, ADMIN, "Webhook endpoints (never their secrets) and the event types", "webhooks", response=a.Webhooks),
    Route("POST", "/v1/webhooks", webhooks.create_webhook, ADMIN, "Register a webhook endpoint (a generated secret is shown once)", "webhooks", t.WebhookBody, response=a.CreatedWebhook),
    Route("DELETE", "/v1/webhooks/{name}", webhooks.remove_webhook, ADMIN, "Remove a webhook endpoint", "webhooks", t.OptionalReasonBody, False, response=a.RemovedWebhook),
    Route("GET", "/v1/webhooks/{name}/deliveries", webhooks.deliveries, ADMIN, "A webhook's waiting deliveries and its delivery log, newest first", "webhooks", query=(("count", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50, "description": "the most attempts returned"}),), response=a.WebhookDeliveries),
    Route("GET", "/healthz", health.healthz, None, "Liveness", "operations", response=a.Health),
    Route("GET", "/readyz", health.readyz, None, "Readiness", "operations", response=a.Ready),
    Route("GET", "/metrics", health.prometheus, None, "Prometheus metrics (every process)", "operations"),
    Route("GET", "/metrics.json", health.metrics_json, None, "This process's counters", "operations", response=a.MetricsJson),
)  # fmt: skip


def add_routes(app: web.Application) -> dict[tuple[str, str], Role]:
    """Register every route; return (method, path) → role for the auth middleware."""
    roles: dict[tuple[str, str], Role] = {}
    for route in ROUTES:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # and HEAD
        else:
            app.router.add_route(route.method, route.path, route.handler)
        if route.role is not None:
            roles[(route.method, route.path)] = route.role
    return roles
