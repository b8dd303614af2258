"""An experiment's fields as msgspec types: the body of ``POST /v1/experiments`` and of
``PATCH /v1/experiments/{key}``, and the experiment as the API shows it.

The handlers validate each body with these types (types, bounds, enums, unknown fields: the
error names the field and the value), then hand the body to the routing config's parser
(:func:`gateway.config.parse.parse_experiment`) for the rules that span fields (weights summing
to 1, a ramp's coverage rising, a bandit's floor, ...). The defaults are the parser's; a field
left out is left to the parser, so that defaults that depend on other fields (a bandit's
floor, a ramp's coverage) stay its own. A test checks that these fields are the parser's.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

from gateway.config.model import (
    DEFAULT_ATTRIBUTION_WINDOW_S,
    DEFAULT_MIN_RUNTIME_S,
    MAX_ATTRIBUTION_WINDOW_S,
    MIN_ATTRIBUTION_WINDOW_S,
    BanditPolicy,
    Correction,
    Credit,
    Kind,
    Metric,
    Outcome,
    Reward,
    SequentialMethod,
    Status,
    Then,
)
from gateway.config.parse import KEY_RE

Reason = Annotated[str, Meta(max_length=500, description="why: written into the audit trail")]
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
Seconds = Annotated[float, Meta(ge=0.0, le=1e9)]
Timestamp = Annotated[float, Meta(ge=0.0, le=1e11, description="unix seconds")]
DatasetId = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="a registered dataset the treatments' gates must have run on (and passed) "
        "before it starts",
    ),
]
# Fields of an experiment that no body sets: pause and resume own them.
NOT_IN_BODY: Final = ("paused_at", "paused_by", "paused_s")
ExperimentKey = Annotated[
    str, Meta(pattern=KEY_RE.pattern, description="lower-case letters, digits, '.', '_', '-'")
]


class VariantBody(Struct, forbid_unknown_fields=True):
    """One arm: the first is the control."""

    name: Annotated[str, Meta(min_length=1, examples=["control"])]
    model_version: Annotated[str, Meta(min_length=1, examples=["ranker-v1"])]
    weight: (
        Annotated[
            float,
            Meta(
                ge=0.0,
                le=1.0,
                description="share of the covered users; required on every variant once one "
                "sets it (an A/B test or a bandit); every weight left out: an equal split",
            ),
        ]
        | UnsetType
    ) = UNSET


class GuardrailBody(Struct, forbid_unknown_fields=True):
    """The treatment may be at most ``margin`` (relative) worse on ``metric``."""

    metric: Metric
    margin: Share


class RampStepBody(Struct, forbid_unknown_fields=True):
    """A canary step: this coverage, held at least ``hold_s`` (required but on the last)."""

    coverage: Annotated[float, Meta(ge=1e-6, le=1.0)]
    hold_s: Seconds | None = None


class PhaseBody(Struct, forbid_unknown_fields=True):
    """A span with fixed weights (set by the lifecycle: a weight change starts one)."""

    weights: list[Share]
    started_at: Timestamp


class ShadowRequirementBody(Struct, forbid_unknown_fields=True):
    """The shadow phase each treatment must have passed before the experiment starts."""

    min_searches: Annotated[int, Meta(ge=1, le=10**9)] | None = 500
    min_overlap: Share = 0.0
    max_overlap: Annotated[Share, Meta(description="at least min_overlap")] = 1.0
    max_error_rate: Share = 0.01


class BanditBody(Struct, forbid_unknown_fields=True):
    """How the worker runs a bandit (``kind = "bandit"``): it re-weights the arms every
    ``update_every_s`` from their rewards and stops once one arm is best with
    ``stop_probability``."""

    policy: BanditPolicy = "thompson"
    reward: Annotated[Reward, Meta(description="'ucb1' needs one in [0, 1]")] = (
        "purchase_conversion"
    )
    floor: (
        Annotated[
            float, Meta(ge=0.0, le=1.0, description="at most 1/arms; default min(0.05, 1/arms)")
        ]
        | UnsetType
    ) = UNSET
    burn_in_units: Annotated[int, Meta(ge=0, le=10**9)] | None = 200
    update_every_s: Annotated[float, Meta(ge=1.0, le=1e7)] = 60.0
    stop_probability: Annotated[float, Meta(ge=0.5, le=0.9999)] = 0.95


class InterleavingBody(Struct, forbid_unknown_fields=True):
    """How the worker runs an interleaving (2 versions) or multileaving (3 to 6) experiment."""

    then: Annotated[
        Then, Meta(description="the winner becomes production, or goes on to an A/B test")
    ] = "production"
    credit: Annotated[Credit, Meta(description="the event that credits a slot")] = "click"
    min_competitive_share: Share = 0.02
    min_slots: Annotated[int, Meta(ge=1, le=10**12)] | None = 2000
    settle_s: Annotated[float, Meta(ge=0.0, le=1e7, description="a session gap")] = 1800.0


class ExperimentFields(Struct, forbid_unknown_fields=True, kw_only=True):
    """Every field of an experiment but its key and variants, as in ``configs/experiments.toml``
    (flat: the analysis's fields beside the experiment's own)."""

    description: Annotated[str, Meta(description="what it tests, for people")] = ""
    kind: Annotated[
        Kind,
        Meta(description="interleaving: exactly 2 variants; multileaving: 3 to 6 versions"),
    ] = "ab"
    coverage: Annotated[
        Share, Meta(description="share of all users in the experiment; with a ramp: its step's")
    ] = 1.0
    namespace_range: Annotated[
        list[Share],
        Meta(
            min_length=2,
            max_length=2,
            description="[start, end), start < end: running experiments' ranges are disjoint",
        ),
    ] = field(default_factory=lambda: [0.0, 1.0])
    hash_version: Annotated[
        Literal[1, 2], Meta(description="the user hashing (1: GrowthBook's v1; 2: its v2)")
    ] = 2
    seed: Annotated[str, Meta(description="the hash seed; default: the key")] = ""
    primary_metric: Annotated[
        Metric, Meta(description="what decides it (higher is better; abandonment_rate: lower)")
    ] = "purchase_conversion"
    alpha: Annotated[float, Meta(ge=1e-6, le=0.5, description="the false positive rate")] = 0.05
    min_units_per_arm: Annotated[
        int, Meta(ge=1, description="users each arm needs before any decision")
    ] = 200
    guardrails: Annotated[
        list[GuardrailBody], Meta(description="one per metric; not for a bandit or interleaving")
    ] = []
    method: Annotated[
        SequentialMethod,
        Meta(description="group-sequential needs horizon_units_per_arm"),
    ] = "auto"
    mde: Annotated[
        float, Meta(ge=1e-4, le=10.0, description="the minimum detectable effect (relative)")
    ] = 0.05
    horizon_units_per_arm: (
        Annotated[int, Meta(ge=2, le=10**12, description="the planned size (group-sequential)")]
        | None
    ) = None
    looks: Annotated[int, Meta(ge=1, le=1000, description="planned evaluations")] | None = 100
    correction: Annotated[Correction, Meta(description="across treatments and guardrails")] = "holm"
    min_runtime_s: Annotated[
        Seconds, Meta(description="no promotion sooner after the start (a week by default)")
    ] = DEFAULT_MIN_RUNTIME_S
    max_runtime_s: (
        Annotated[float, Meta(ge=1.0, le=1e9, description="more than min_runtime_s")] | None
    ) = None
    max_error_rate: Annotated[
        Share, Meta(description="operational guardrail: failed or timed-out scorings")
    ] = 0.02
    max_latency_ratio: Annotated[
        float,
        Meta(
            ge=1.0,
            le=1000.0,
            description="latency guardrail's margin: p99 over control's (always-valid test)",
        ),
    ] = 3.0
    min_ops_requests: (
        Annotated[
            int,
            Meta(ge=1, le=10**9, description="scorings before an arm's error rate is judged"),
        ]
        | None
    ) = 50
    cuped: Annotated[
        bool, Meta(description="CUPED on conversion and revenue, pre-exposure as covariate")
    ] = True
    deterioration: Annotated[
        bool,
        Meta(
            description="test every other metric for a significant harm (Bonferroni across "
            "them); a winner with one is not promoted"
        ),
    ] = True
    attribution_window_s: Annotated[
        float,
        Meta(
            ge=MIN_ATTRIBUTION_WINDOW_S,
            le=MAX_ATTRIBUTION_WINDOW_S,
            description="how long after the user's exposure a purchase without a search id "
            "(at checkout) still counts for their arm",
        ),
    ] = DEFAULT_ATTRIBUTION_WINDOW_S
    ramp: Annotated[
        list[RampStepBody], Meta(description="a canary schedule; coverage rises step by step")
    ] = []
    require_shadow: (
        Annotated[
            ShadowRequirementBody, Meta(description="a shadow phase to pass before it starts")
        ]
        | None
    ) = None
    bandit: Annotated[BanditBody | None, Meta(description='for kind = "bandit" only')] = None
    interleaving: (
        Annotated[InterleavingBody, Meta(description='for kind "interleaving"/"multileaving"')]
        | None
    ) = None
    dataset: DatasetId | None = None


_STORED: Final = "kept by the lifecycle (as in an experiment's stored form)"


class ExperimentBody(ExperimentFields, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/experiments``: a new experiment, created as a draft."""

    key: ExperimentKey
    variants: Annotated[list[VariantBody], Meta(min_length=2, description="the first: control")]
    status: Annotated[
        Literal["draft"], Meta(description="created as a draft: start it with .../start")
    ] = "draft"
    outcome: Annotated[Literal["none"], Meta(description="set by the lifecycle")] = "none"
    # The lifecycle's own fields, accepted so that an experiment's stored (or exported) form
    # can be sent back as it stands.
    phases: Annotated[list[PhaseBody], Meta(description=_STORED)] = []
    ramp_step: Annotated[int, Meta(ge=0, description=_STORED)] | None = None
    ramp_step_started_at: Annotated[Timestamp, Meta(description=_STORED)] = 0.0
    period: Annotated[int, Meta(ge=0, le=10**9, description=_STORED)] | None = None
    period_started_at: Annotated[Timestamp, Meta(description=_STORED)] = 0.0
    reason: Reason | None = None


def _edit() -> Any:
    """Every field of :class:`ExperimentFields` optional and with no default: an edit changes
    the fields it names and no others (a default in the document would say otherwise)."""
    fields: list[tuple[str, Any, Any]] = [
        (f.name, Union[f.type, UnsetType], UNSET)  # noqa: UP007 (f.type is a runtime value)
        for f in msgspec.structs.fields(ExperimentFields)
    ]
    fields += [
        ("variants", Union[Annotated[list[VariantBody], Meta(min_length=2)], UnsetType], UNSET),  # noqa: UP007
        ("weights", Union[Weights, UnsetType], UNSET),  # noqa: UP007
        ("reason", Union[Reason, None, UnsetType], UNSET),  # noqa: UP007
    ]
    edit = msgspec.defstruct(
        "ExperimentEdit", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
    )
    edit.__doc__ = (
        "``PATCH /v1/experiments/{key}``: the fields to change (any of a draft's; ``weights`` "
        "and ``coverage`` of a running one); new ``weights`` start a new phase."
    )
    return edit


Weights = Annotated[
    dict[str, Share],
    Meta(min_length=1, description="variant name -> weight, summing to 1: starts a new phase"),
]
ExperimentEdit: Final[Any] = _edit()


class VariantView(Struct):
    name: str
    model_version: str
    weight: float


class GuardrailView(Struct):
    metric: str
    margin: float


class PhaseView(Struct):
    weights: list[float]
    started_at: float


class RampStepView(Struct):
    coverage: float
    hold_s: float | None


class ExperimentView(Struct, kw_only=True):
    """An experiment's stored form: every field of its body, with the lifecycle's."""

    key: str
    status: Annotated[Status | Literal["paused"], Meta(description="paused: routes production")]
    outcome: Outcome
    variants: list[VariantView]
    coverage: float
    namespace_range: list[float]
    hash_version: int
    seed: str
    primary_metric: str
    alpha: float
    min_units_per_arm: int
    description: str
    guardrails: list[GuardrailView]
    method: str
    mde: float
    horizon_units_per_arm: int | None
    looks: int
    correction: str
    min_runtime_s: float
    max_runtime_s: float | None
    max_error_rate: float
    max_latency_ratio: float
    min_ops_requests: int
    cuped: bool
    deterioration: bool
    attribution_window_s: float
    phases: list[PhaseView]
    ramp: list[RampStepView]
    ramp_step: int
    ramp_step_started_at: float
    require_shadow: dict[str, float] | None
    kind: Kind
    bandit: dict[str, str | float] | None
    period: int
    period_started_at: float
    interleaving: dict[str, str | float] | None
    dataset: str | None
    paused_at: Annotated[float, Meta(description="unix seconds, while paused")] | None = None
    paused_by: (
        Annotated[
            Literal["hand", "freeze"],
            Meta(description="a person (resumes by hand) or a freeze (resumes on unfreeze)"),
        ]
        | None
    ) = None
    paused_s: Annotated[
        float, Meta(ge=0.0, description="time spent in the pauses before the current one")
    ] = 0.0
