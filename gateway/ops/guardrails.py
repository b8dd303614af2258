"""Pure: operational guardrails of an experiment's treatments, from the counts the gateways
keep per phase and variant, and each arm's operational figures for the evaluation record.

- error rate: failed or timed-out scorings / scorings, above ``max_error_rate``, once the arm
  has ``min_requests`` scorings (no statistics: a ranker that fails is stopped at once);
- latency: the treatment's p99 scoring time above ``max_latency_ratio`` times the control's,
  by an always-valid sequential test of the two quantiles (:mod:`stats.quantile_sequence`,
  Howard & Ramdas 2022) at the experiment's α, on the latency histograms: valid at every
  look, so it needs no minimum of scorings (the p99-ratio threshold it replaces was judged
  only from 1 000 scorings of each arm, and then on two point estimates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from gateway.ops.histogram import EDGES_MS, field_bucket, percentile
from gateway.records import ArmOpsRecord, LatencyTestRecord
from stats.quantile_sequence import QuantileTest, excess_p_value, quantile_ratio_test

LATENCY_QUANTILE: Final = 0.99
# Scorings per arm at which the test's boundary is tightest: a gross regression (a p99 ten
# times the control's) is then caught from about 1 000 scorings of each arm, where the rule it
# replaced began to judge; a small one (+10 %) needs tens of thousands, as any valid test would.
LATENCY_TUNING: Final = 2_000


@dataclass(frozen=True)
class ArmOps:
    requests: int = 0
    errors: int = 0
    latency: Mapping[int, int] = field(default_factory=dict)  # bucket -> count
    missing: int = 0  # of the errors: searches that lacked a feature the version reads

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def histogram(self) -> np.ndarray:
        """The latency counts as one array over every bucket (the last one open)."""
        counts = np.zeros(len(EDGES_MS) + 1, dtype=np.int64)
        index = np.fromiter(self.latency.keys(), dtype=np.int64, count=len(self.latency))
        value = np.fromiter(self.latency.values(), dtype=np.int64, count=len(self.latency))
        inside = (index >= 0) & (index < counts.size)
        np.add.at(counts, index[inside], value[inside])
        return counts


@dataclass(frozen=True)
class OpsLimits:
    max_error_rate: float = 0.02
    # The latency margin: the treatment's p99 may be up to this many times the control's.
    max_latency_ratio: float = 3.0
    min_requests: int = 50  # scorings an arm needs before its error rate is judged
    alpha: float = 0.05  # the latency test's level: its chance of ever rolling back in error


def parse_ops(raw: Mapping[str, int]) -> dict[str, ArmOps]:
    """``{"<variant>:requests": n, "<variant>:errors": n, "<variant>:missing": n,
    "<variant>:lat16:<bucket>": n}`` (fields of another histogram grid are left out)."""
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
        elif (index := field_bucket(rest)) is not None:
            latency.setdefault(variant, {})[index] = int(value)
    variants = set(requests) | set(errors) | set(latency)
    return {
        v: ArmOps(requests.get(v, 0), errors.get(v, 0), latency.get(v, {}), missing.get(v, 0))
        for v in variants
    }


def latency_test(control: ArmOps, treatment: ArmOps, limits: OpsLimits) -> QuantileTest:
    """The always-valid test that the treatment's p99 is above ``max_latency_ratio`` times the
    control's, with the ratio's confidence sequence."""
    return quantile_ratio_test(
        control.histogram(),
        treatment.histogram(),
        EDGES_MS,
        quantile=LATENCY_QUANTILE,
        margin=limits.max_latency_ratio,
        alpha=limits.alpha,
        tuning=LATENCY_TUNING,
    )


def latency_p_value(control: ArmOps, treatment: ArmOps, limits: OpsLimits) -> float:
    """The always-valid p-value of :func:`latency_test` alone (no interval): breached when
    at most ``limits.alpha``."""
    return excess_p_value(
        control.histogram(),
        treatment.histogram(),
        EDGES_MS,
        quantile=LATENCY_QUANTILE,
        margin=limits.max_latency_ratio,
        alpha=limits.alpha,
        tuning=LATENCY_TUNING,
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ms(value: float | None) -> str:
    return "over 60 s" if value is None or not math.isfinite(value) else f"{value:.3g} ms"


def _ratio(value: float | None) -> str:
    return "∞" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _latency_breach(name: str, control: str, test: QuantileTest) -> str:
    return (
        f"{name} scores slower than {control}: p{test.quantile * 100:g} "
        f"{_ms(test.treatment)} against {_ms(test.control)}, ratio {_ratio(test.ratio)}, "
        f"always-valid interval [{_ratio(test.ci_low)}, {_ratio(test.ci_high)}] "
        f"(α = {test.alpha:g}) above the limit {test.margin:g}"
    )


def _record(name: str, arm: ArmOps, test: QuantileTest | None) -> ArmOpsRecord:
    latency = None
    if test is not None:
        latency = LatencyTestRecord(
            quantile=test.quantile,
            ratio=_finite(test.ratio),
            ci_low=test.ci_low,
            ci_high=_finite(test.ci_high),
            margin=test.margin,
            p_value=test.p_value,
            breached=test.breached,
        )
    return ArmOpsRecord(
        variant=name,
        requests=arm.requests,
        errors=arm.errors,
        error_rate=arm.error_rate,
        p50_ms=_finite(percentile(arm.latency, 0.5)),
        p99_ms=_finite(percentile(arm.latency, LATENCY_QUANTILE)),
        latency=latency,
    )


def review(
    control: str, treatments: list[str], ops: Mapping[str, ArmOps], limits: OpsLimits
) -> tuple[tuple[ArmOpsRecord, ...], list[str]]:
    """Every arm's operational figures (the control's first, each treatment's with its latency
    test) and each breached treatment's reason, in words (empty when all are within limits)."""
    base = ops.get(control, ArmOps())
    figures = [_record(control, base, None)]
    out = []
    for name in treatments:
        arm = ops.get(name, ArmOps())
        test = latency_test(base, arm, limits)
        figures.append(_record(name, arm, test))
        if arm.requests >= limits.min_requests and arm.error_rate > limits.max_error_rate:
            why = f"; {arm.missing} of them for features the searches lacked" if arm.missing else ""
            out.append(
                f"{name} fails {arm.errors} of {arm.requests} scorings "
                f"({arm.error_rate:.1%}, limit {limits.max_error_rate:.1%}{why})"
            )
        elif test.breached:
            out.append(_latency_breach(name, control, test))
    return tuple(figures), out


def breaches(
    control: str, treatments: list[str], ops: Mapping[str, ArmOps], limits: OpsLimits
) -> list[str]:
    """Each breached treatment's reason, in words; empty when every treatment is within limits."""
    return review(control, treatments, ops, limits)[1]
