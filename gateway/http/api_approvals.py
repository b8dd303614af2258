"""The approvals API's bodies and answers as msgspec types (the route table documents them;
the handlers decode and are checked with them). The request record and the policy are the
pure core's own types (:mod:`gateway.control.approvals`): one type for the store, the API and
the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.control.approvals import (
    DAY_S,
    MAX_EXPIRY_S,
    MIN_EXPIRY_S,
    POLICY_FIELDS,
    ApprovalPolicy,
    ApprovalRequest,
)
from gateway.http.api_experiment import Reason


class ApprovalPolicyBody(Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields to change (those left out keep their values); audited with the diff. A change
    that loosens a policy holding anything is itself held for a second admin."""

    production: bool | UnsetType = UNSET
    gate_override: bool | UnsetType = UNSET
    coverage_above: Annotated[float, Meta(ge=0.0, le=1.0)] | UnsetType | None = UNSET
    decision_loop: bool | UnsetType = UNSET
    expires_after_s: (
        Annotated[
            float,
            Meta(ge=MIN_EXPIRY_S, le=MAX_EXPIRY_S, description=f"default {DAY_S:g} (a day)"),
        ]
        | UnsetType
    ) = UNSET
    reason: Reason | None = None

    def changes(self) -> dict[str, Any]:
        """The policy's fields this body sets."""
        return {
            name: value for name in POLICY_FIELDS if (value := getattr(self, name)) is not UNSET
        }


class ApprovalPolicyAnswer(Struct):
    policy: ApprovalPolicy
    stored: Annotated[bool, Meta(description="false: the default (nothing needs approval)")]
    diff: list[dict[str, Any]] | None = None


class PendingApproval(Struct):
    """202: the change was not applied; it waits for another admin (or expires)."""

    approval: ApprovalRequest
    message: Annotated[str, Meta(description="what holds it and how another admin decides")]


class Approvals(Struct):
    pending: Annotated[list[ApprovalRequest], Meta(description="newest first")]
    recent: Annotated[list[ApprovalRequest], Meta(description="decided or expired, newest first")]


class ApproveBody(Struct, forbid_unknown_fields=True):
    reason: Reason | None = None
