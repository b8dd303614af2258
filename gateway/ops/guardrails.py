"""Pure: operational guardrails of an experiment's treatments, from the counts the gateways
keep per phase and variant. No statistics: a ranker that fails or is slow is stopped at once.

- error rate: failed or timed-out scorings / scorings, above ``max_error_rate``;
- latency: the treatment's p99 scoring time over the control's, above ``max_latency_ratio``.

Each needs ``min_requests`` scorings of the arm (and of the control, for latency) first; a
p99 moreover needs ``LATENCY_MIN_REQUESTS`` scorings of each, so that it rests on ten or more
scorings above it (from 50 scorings the "p99" is the single slowest, and one preempted run
on a busy machine rolled back a healthy candidate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.ops.histogram import percentile

LATENCY_MIN_REQUESTS: Final = 1000


@dataclass(frozen=True)
class ArmOps:
    requests: int = 0
    errors: int = 0
    latency: Mapping[int, int] = field(default_factory=dict)  # bucket -> count
    missing: int = 0  # of the errors: searches that lacked a feature the version reads

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class OpsLimits:
    max_error_rate: float = 0.02
    max_latency_ratio: float = 3.0
    min_requests: int = 50


def parse_ops(raw: Mapping[str, int]) -> dict[str, ArmOps]:
    """``{"<variant>:requests": n, "<variant>:errors": n, "<variant>:missing": n,
    "<variant>:lat:<bucket>": n}``."""
    requests: dict[str, int] = {}
    errors: dict[str, int] = {}
    missing: dict[str, int] = {}
    latency: dict[str, dict[int, int]] = {}
    for name, value in raw.items():
        variant, _, rest = name.partition(":")
        if rest == "requests":
            requests[variant] = int(value)
        elif rest == "errors":
            errors[variant] = int(value)
        elif rest == "missing":
            missing[variant] = int(value)
        elif rest.startswith("lat:"):
            latency.setdefault(variant, {})[int(rest[4:])] = int(value)
    variants = set(requests) | set(errors) | set(latency)
    return {
        v: ArmOps(requests.get(v, 0), errors.get(v, 0), latency.get(v, {}), missing.get(v, 0))
        for v in variants
    }


def breaches(
    control: str, treatments: list[str], ops: Mapping[str, ArmOps], limits: OpsLimits
) -> list[str]:
    """Each breached treatment's reason, in words; empty when every treatment is within limits."""
    out = []
    base = ops.get(control, ArmOps())
    for name in treatments:
        arm = ops.get(name, ArmOps())
        if arm.requests < limits.min_requests:
            continue
        if arm.error_rate > limits.max_error_rate:
            why = f"; {arm.missing} of them for features the searches lacked" if arm.missing else ""
            out.append(
                f"{name} fails {arm.errors} of {arm.requests} scorings "
                f"({arm.error_rate:.1%}, limit {limits.max_error_rate:.1%}{why})"
            )
            continue
        judged = max(limits.min_requests, LATENCY_MIN_REQUESTS)
        if base.requests < judged or arm.requests < judged:
            continue
        p99, base_p99 = percentile(arm.latency, 0.99), percentile(base.latency, 0.99)
        if p99 is not None and base_p99 and p99 / base_p99 > limits.max_latency_ratio:
            out.append(
                f"{name} scores with p99 {p99:.1f} ms against {control}'s {base_p99:.1f} ms "
                f"(ratio {p99 / base_p99:.1f}, limit {limits.max_latency_ratio:g})"
            )
    return out
