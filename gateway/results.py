"""An evaluation's results as an experimenter reads them: every metric of the catalogue with
each arm's value and each treatment's lift, its test and role, and the time to a decision.
Typed, frozen records (the worker writes them into the evaluation record, the API serves
them, the CLI and the dashboard show them)."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from gateway.catalogue.metrics import Direction, Per, Unit

# success: decides the experiment (superiority, corrected across arms); guardrail: must not be
# worse than its margin (non-inferiority, not corrected); deterioration: tested for a
# significant harm, which blocks a promotion (Bonferroni across these metrics); monitor: shown,
# not tested (the experiment turned deterioration tests off).
Role = Literal["success", "guardrail", "deterioration", "monitor"]
Test = Literal["superiority", "non-inferiority", "deterioration", "none"]


class ArmValue(Struct, frozen=True, kw_only=True):
    """One arm's value of one metric: a share or mean over ``n`` users, searches or clicks."""

    variant: str
    value: float | None  # None: not defined yet (no users, or no searches)
    n: int
    users: int
    std_error: float | None


class MetricLift(Struct, frozen=True, kw_only=True):
    """One treatment's lift over the control on one metric, with the always-valid interval
    at the experiment's alpha (a one-sided test's open end is None) and the test's verdict:
    ``significant`` for a superiority test that concluded (either side), ``harm`` for a
    significant harm (a breached guardrail, a deterioration, a significant loss)."""

    variant: str
    scale: Literal["relative", "absolute"]
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: Test
    margin: float | None = None
    significant: bool = False
    harm: bool = False


class MetricResult(Struct, frozen=True, kw_only=True):
    metric: str
    label: str
    role: Role
    direction: Direction
    unit: Unit
    per: Per
    arms: tuple[ArmValue, ...]
    lifts: tuple[MetricLift, ...]


class TimeToDecision(Struct, frozen=True, kw_only=True):
    """How far the success test is from concluding at the planned effect: the total units it
    needs (``units_needed`` more than it has), and at the rate users have come so far, the
    days that takes. None where not known yet (too few users, or no rate yet)."""

    effect: float  # the planned (minimum detectable) effect, relative
    tuning_units: float | None
    units: int
    units_to_conclude: float | None
    units_needed: float | None
    units_per_day: float | None
    days_left: float | None
    method: str | None = None


class SegmentResult(Struct, frozen=True, kw_only=True):
    """One segment (a dimension's value) of an experiment on one metric: each arm's users and
    value there, each treatment's lift there with its always-valid interval, the same lift in
    the rest of the dimension, and the always-valid p-value of the two lifts' difference (the
    differential-impact test, Bonferroni over the dimension's segments; see ``alerts``)."""

    dimension: str
    value: str
    metric: str
    users: dict[str, int]
    srm_p_value: float | None  # the segment's own sample ratio check
    arms: tuple[ArmValue, ...]
    lifts: tuple[MetricLift, ...]
    rest_lifts: tuple[MetricLift, ...]  # the same treatment's lift outside this segment
    differs_p: dict[str, float | None]  # by treatment: p of (lift here − lift in the rest)


AlertKind = Literal["segment", "segment_srm", "pre_exposure_bias", "event_health"]


class Alert(Struct, frozen=True, kw_only=True):
    """Something an experimenter should look at before acting, found by the evaluation and
    never acted on by itself except where ``blocks`` says the promotion waits for it.

    - segment: a segment whose lift differs from the rest of its dimension (``level`` strong
      below 0.01 / segments, weak below 0.05 / segments, as Statsig flags them);
    - segment_srm: a segment whose arms' users are not in the experiment's ratio;
    - pre_exposure_bias: the arms' users differed before they were exposed (p < 0.001);
    - event_health: an arm's outcomes per search fell far below the control's (its page may
      have stopped sending events), which blocks a promotion."""

    kind: AlertKind
    level: Literal["strong", "weak"]
    message: str
    p_value: float | None = None
    threshold: float | None = None
    variant: str | None = None
    metric: str | None = None
    dimension: str | None = None
    value: str | None = None
    blocks: bool = False


class FunnelStep(Struct, frozen=True, kw_only=True):
    """One step of the search funnel (search → click → add-to-cart → purchase): each arm's
    conversion from the step before, and each treatment's lift with its two-sided
    always-valid interval."""

    step: str
    metric: str
    arms: tuple[ArmValue, ...]
    lifts: tuple[MetricLift, ...]
