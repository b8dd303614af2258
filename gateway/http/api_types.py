"""The admin API's request bodies as msgspec types: the handlers decode each body with its
type (:func:`gateway.http.body.read_body_as`: errors name the field and its value) and the
OpenAPI document is generated from the same types, so the two cannot disagree. Rules a type
cannot say (an experiment's weights summing to 1, a reason that is not blank) are checked
after it. The property-based API test drives the gateway with bodies generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal

from msgspec import Meta, Struct

from gateway.http.api_experiment import ExperimentBody, ExperimentEdit, Reason
from gateway.webhooks.events import EventType

__all__ = ["ExperimentBody", "ExperimentEdit"]  # with the other bodies, for the route table

RequiredReason = Annotated[
    str,
    Meta(min_length=1, max_length=500, description="why (required): written into the audit trail"),
]


class ReasonBody(Struct, forbid_unknown_fields=True):
    reason: RequiredReason


class OptionalReasonBody(Struct, forbid_unknown_fields=True):
    reason: Reason | None = None


class StartBody(Struct, forbid_unknown_fields=True):
    reason: Reason | None = None
    ignore_missing_features: Annotated[
        bool,
        Meta(
            description="start although a version reads features recent searches lack "
            "(a reason is then required)"
        ),
    ] = False


class PromoteBody(Struct, forbid_unknown_fields=True):
    reason: RequiredReason
    variant: Annotated[str, Meta(description="default: the one treatment")] | None = None


class ProductionBody(Struct, forbid_unknown_fields=True):
    version: Annotated[str, Meta(min_length=1, max_length=64)]
    reason: RequiredReason


class DimensionBody(Struct, forbid_unknown_fields=True):
    """One segment dimension (gateway.config.segments): a name, where its value comes from,
    and the values kept (any other counts as 'other')."""

    name: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["device"])]
    source: Annotated[
        str | None,
        Meta(
            description="'context.<key>' (the search's context field; default context.<name>), "
            "'shopper' (new / returning, set by the worker) or 'query_class' (head / torso / "
            "tail by query frequency)",
            examples=["context.device"],
        ),
    ] = None
    values: (
        Annotated[
            list[Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]],
            Meta(
                min_length=1,
                max_length=12,
                description="the values kept (any other counts as 'other'); shopper and "
                "query_class have their own",
                examples=[["mobile", "desktop", "tablet"]],
            ),
        ]
        | None
    ) = None


class SegmentsBody(Struct, forbid_unknown_fields=True):
    dimensions: Annotated[list[DimensionBody], Meta(max_length=6)]
    reason: RequiredReason


class RollbackBody(Struct, forbid_unknown_fields=True):
    """Back to ``to`` (a version that was production before), else to the previous one."""

    reason: RequiredReason
    to: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class ShadowBody(Struct, forbid_unknown_fields=True):
    share: Annotated[float, Meta(gt=0.0, le=1.0)]
    reason: Reason | None = None


class HoldoutBody(Struct, forbid_unknown_fields=True):
    """Begin the deployment's holdout: ``share`` of the users on ``version`` from now on."""

    version: Annotated[
        str, Meta(min_length=1, max_length=64, description="the frozen baseline: a ready version")
    ]
    share: Annotated[
        float, Meta(gt=0.0, le=0.2, description="of all users, held out (at most a fifth)")
    ]
    reason: RequiredReason
    window_s: (
        Annotated[float, Meta(gt=0.0, le=3.2e9, description="it ends this long after it begins")]
        | None
    ) = None
    seed: Annotated[str, Meta(max_length=128, description="hash seed (default: its stats id)")] = ""
    attribution_window_s: (
        Annotated[float, Meta(ge=60, le=90 * 24 * 3600, description="as an experiment's")] | None
    ) = None


class TokenBody(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$")]
    role: Literal["storefront", "viewer", "experimenter", "admin"]
    reason: Reason | None = None


class ErrorDetail(Struct):
    type: str
    message: str
    where: str | None = None


class Error(Struct):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


@dataclass(frozen=True)
class Upload:
    """A multipart upload: one JSON part and one file part (for the OpenAPI document and for
    :func:`gateway.http.uploads.read_upload`, which reads it)."""

    json_part: str
    json_description: str
    file_part: str
    file_description: str
    # The JSON part's type, when it has one (the document shows it; the handler decodes it).
    json_type: type | None = None


class DatasetMeta(Struct, forbid_unknown_fields=True):
    """The ``meta`` part of a dataset upload."""

    id: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="the dataset's id, for good"
        ),
    ]
    description: Annotated[str, Meta(max_length=2000)] = ""
    reason: Reason | None = None


MODEL_UPLOAD: Final = Upload("card", "the model card (JSON)", "model", "the ONNX file")
DATASET_UPLOAD: Final = Upload(
    "meta",
    'JSON: {"id": "...", "description": "...", "reason": "..."} (description, reason optional)',
    "file",
    "the dataset file (JSON lines or Parquet)",
    DatasetMeta,
)


class TrafficDatasetBody(Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    hours: Annotated[
        float, Meta(gt=0.0, le=24.0 * 90, description="how far back to read the streams")
    ] = 24.0
    max_searches: Annotated[
        int, Meta(ge=1, le=10_000, description="the most recent logged searches kept")
    ] = 10_000
    with_unlabelled: Annotated[
        bool, Meta(description="keep logged searches that no outcome touched (grade 0 only)")
    ] = False
    features: (
        Annotated[
            list[Annotated[str, Meta(min_length=1, max_length=64)]],
            Meta(
                min_length=1,
                max_length=256,
                description="the dataset's feature set (default: the latest logged search's); "
                "searches lacking one are left out",
            ),
        ]
        | None
    ) = None
    description: Annotated[str, Meta(max_length=2000)] = ""
    reason: Reason | None = None


class RegateBody(Struct, forbid_unknown_fields=True):
    dataset: (
        Annotated[
            str,
            Meta(
                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                description="a registered dataset carrying every feature the version reads "
                "(default: the card's dataset, else the gate policy's, else the configured file)",
            ),
        ]
        | None
    ) = None
    reason: Reason | None = None


class GatePolicyBody(Struct, forbid_unknown_fields=True):
    """The fields to change; the others keep their values."""

    ndcg_margin: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    latency_budget_ms: Annotated[float, Meta(ge=0.001, le=60_000.0)] | None = None
    latency_candidates: Annotated[int, Meta(ge=1, le=10_000)] | None = None
    latency_ratio: (
        Annotated[float, Meta(ge=1.0, le=1000.0, description="null: off (absolute budget only)")]
        | None
    ) = None
    latency_runs: Annotated[int, Meta(ge=5, le=10_000)] | None = None
    overlap_min: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    overlap_max: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    dataset: (
        Annotated[
            str,
            Meta(
                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                description="the deployment's default dataset; null: the configured file",
            ),
        ]
        | None
    ) = None
    reason: Reason | None = None


WebhookSubscription = Annotated[
    EventType | Literal["*"],
    Meta(description="an event type, or * for every one (docs/operations.md#webhooks)"),
]


class WebhookBody(Struct, forbid_unknown_fields=True):
    name: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            description="the endpoint's name (its delivery log's, and the CLI's)",
        ),
    ]
    url: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=2000,
            description="http:// or https:// (loopback allowed), no credentials in it",
        ),
    ]
    events: Annotated[list[WebhookSubscription], Meta(min_length=1, max_length=32)]
    secret: (
        Annotated[
            str,
            Meta(
                pattern=r"^[!-~]{16,200}$",
                description="the HMAC key: 16 to 200 printable characters; left out, one is "
                "generated and shown once",
            ),
        ]
        | None
    ) = None
    reason: Reason | None = None
