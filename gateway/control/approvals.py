"""Changes that need a second person (pure): the deployment's approval policy, which changes it
covers, and the request that holds such a change until another admin approves or rejects it.

A change the policy covers is not applied when asked for: it is kept as an
:class:`ApprovalRequest` (what it would do, who asked and why) that an admin other than the
requester approves (the change is then made, validated against the config of that moment) or
rejects; a request nobody decides expires. The HTTP layer and the decision loop hold changes;
:mod:`gateway.control.approval_store` keeps the requests and the policy, audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from gateway.errors import ConfigError, Conflict, Forbidden

# What a request holds; each names the call it replays on approval.
Change = Literal[
    "production.set",  # PUT /v1/production
    "production.rollback",  # POST /v1/production/rollback
    "experiment.promote",  # POST /v1/experiments/{key}/promote
    "experiment.start",  # POST /v1/experiments/{key}/start
    "experiment.edit",  # PATCH /v1/experiments/{key} (a running one's coverage raised)
    "model.override",  # POST /v1/models/{version}/override
    "decision.promote",  # the decision loop's promotion
    "approval-policy.set",  # PUT /v1/approval-policy, loosening a policy in force
]
Status = Literal["pending", "approved", "failed", "rejected", "expired"]

DAY_S: Final = 86_400.0
MIN_EXPIRY_S: Final = 60.0
MAX_EXPIRY_S: Final = 30 * DAY_S


class ApprovalPolicy(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which changes need a second admin. The default holds nothing (each admin acts alone)."""

    production: Annotated[
        bool,
        Meta(description="moving production by hand: set, roll back, promote an experiment"),
    ] = False
    gate_override: Annotated[
        bool, Meta(description="letting a version whose gates failed take traffic")
    ] = False
    coverage_above: (
        Annotated[
            float,
            Meta(
                ge=0.0,
                le=1.0,
                description="starting an experiment whose coverage (or ramp) goes above this "
                "share of users, or raising a running one's coverage above it (null: never held)",
            ),
        ]
        | None
    ) = None
    decision_loop: Annotated[
        bool,
        Meta(description="the decision loop's promotions (the experiment runs on meanwhile)"),
    ] = False
    expires_after_s: Annotated[
        float,
        Meta(
            ge=MIN_EXPIRY_S,
            le=MAX_EXPIRY_S,
            description="a request nobody approved or rejected expires after this many seconds",
        ),
    ] = DAY_S

    @property
    def holds_any(self) -> bool:
        return (
            self.production
            or self.gate_override
            or self.coverage_above is not None
            or self.decision_loop
        )

    def to_json(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def diff(self, new: ApprovalPolicy) -> list[dict[str, Any]]:
        old_json, new_json = self.to_json(), new.to_json()
        return [
            {"path": f"approval_policy.{k}", "old": old_json[k], "new": new_json[k]}
            for k in old_json
            if old_json[k] != new_json[k]
        ]

    def loosened_by(self, new: ApprovalPolicy) -> bool:
        """Whether ``new`` holds fewer changes than this policy: a rule switched off, or the
        coverage above which a start is held raised."""
        if any(getattr(self, f) and not getattr(new, f) for f in _FLAGS):
            return True
        old_c, new_c = self.coverage_above, new.coverage_above
        return old_c is not None and (new_c is None or new_c > old_c)


_FLAGS: Final = ("production", "gate_override", "decision_loop")
POLICY_FIELDS: Final = tuple(ApprovalPolicy.__struct_fields__)


def parse_policy(data: Any, where: str = "") -> ApprovalPolicy:
    """A stored or sent policy; an error names the field and the value."""
    try:
        return msgspec.convert(data, ApprovalPolicy)
    except msgspec.ValidationError as exc:
        detail, _, path = str(exc).partition(" - at `$")
        raise ConfigError(f"{where}{path.rstrip('`').lstrip('.')}" or "$", detail) from None


def changed_policy(policy: ApprovalPolicy, changes: dict[str, Any]) -> ApprovalPolicy:
    """``policy`` with ``changes`` applied (the fields left out keep their values)."""
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown field; the policy's fields: {list(POLICY_FIELDS)}")
    return parse_policy(policy.to_json() | changes)


def rule_for(
    policy: ApprovalPolicy,
    change: Change,
    coverage: tuple[float, float] | None = None,
    new_policy: ApprovalPolicy | None = None,
) -> str | None:
    """Why ``policy`` holds ``change`` for a second admin, or None when it applies at once.

    ``coverage`` is (before, after) for a start (before 0) or an edit of a running experiment:
    held when it ends above ``coverage_above`` and rises. ``new_policy`` is the policy a
    change of the policy would leave: held when it loosens one that holds anything."""
    if change in ("production.set", "production.rollback", "experiment.promote"):
        held = policy.production
        rule = "production: moving production by hand needs a second admin"
    elif change == "model.override":
        held = policy.gate_override
        rule = "gate_override: overriding a failed gate needs a second admin"
    elif change in ("experiment.start", "experiment.edit"):
        limit, (before, after) = policy.coverage_above, coverage or (0.0, 0.0)
        held = limit is not None and after > limit and after > before
        rule = f"coverage_above: coverage {after:g} is above {limit}, which needs a second admin"
    elif change == "decision.promote":
        held = policy.decision_loop
        rule = "decision_loop: the decision loop's promotions need an admin's approval"
    else:  # approval-policy.set
        held = new_policy is not None and policy.loosened_by(new_policy)
        rule = "loosening the approval policy in force needs a second admin"
    return rule if held else None


class ApprovalRequest(Struct, frozen=True, kw_only=True):
    """A change held for a second admin: what it would do, who asked, and what became of it."""

    id: str
    change: Annotated[Change, Meta(description="the call it replays when approved")]
    target: Annotated[
        str, Meta(description="what it changes: an experiment's key, a version, production")
    ]
    params: Annotated[
        dict[str, Any], Meta(description="the call's validated arguments, replayed as they are")
    ]
    summary: Annotated[str, Meta(description="what it would do, in words")]
    diff: Annotated[
        list[dict[str, Any]], Meta(description="the change it would make to the config now")
    ]
    rule: Annotated[str, Meta(description="the policy's rule that holds it")]
    subjects: Annotated[
        list[str], Meta(description="the audit subjects of the change (production, ...)")
    ]
    requested_by: str
    reason: str
    requested_at: float
    expires_at: float
    status: Annotated[
        Status,
        Meta(
            description="pending; approved (and applied_version says the change's config "
            "version); failed (approved, but it no longer applied: error says why); rejected; "
            "expired"
        ),
    ] = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None
    applied_version: int | None = None
    error: str | None = None

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, raw: bytes | str) -> ApprovalRequest:
        return msgspec.json.decode(raw, type=cls)

    def to_json(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def due(self, now: float) -> bool:
        """Pending past its expiry: it is to be marked expired, never applied."""
        return self.status == "pending" and now >= self.expires_at

    def _open(self, now: float) -> None:
        if self.due(now):
            raise Conflict(f"approval {self.id!r} expired at {self.expires_at:.0f} (epoch s)")
        if self.status != "pending":
            raise Conflict(
                f"approval {self.id!r} is {self.status} already"
                + (f" (by {self.decided_by})" if self.decided_by else "")
            )

    def approve(self, by: str, reason: str, now: float) -> ApprovalRequest:
        """Approved by ``by``: never the requester (the second person is the point)."""
        self._open(now)
        if by == self.requested_by:
            raise Forbidden(
                f"approval {self.id!r}: {by} requested it and cannot approve it; the approval "
                "policy's four-eyes rule needs another admin"
            )
        return msgspec.structs.replace(
            self, status="approved", decided_by=by, decided_at=now, decision_reason=reason
        )

    def reject(self, by: str, reason: str, now: float) -> ApprovalRequest:
        """Rejected by ``by`` (the requester may withdraw their own)."""
        self._open(now)
        return msgspec.structs.replace(
            self, status="rejected", decided_by=by, decided_at=now, decision_reason=reason
        )

    def expire(self) -> ApprovalRequest:
        return msgspec.structs.replace(self, status="expired", decided_at=self.expires_at)

    def applied(self, version: int | None) -> ApprovalRequest:
        return msgspec.structs.replace(self, applied_version=version)

    def failed(self, error: str) -> ApprovalRequest:
        return msgspec.structs.replace(self, status="failed", error=error)


def audit_note(request: ApprovalRequest, event: str) -> dict[str, Any]:
    """The ``approval`` field of an audit entry about ``request`` (its subjects: the request's
    own, ``approval:ID``, and the change's)."""
    return {
        "id": request.id,
        "event": event,
        "change": request.change,
        "target": request.target,
        "requested_by": request.requested_by,
        "concerns": list(request.subjects),
    }
