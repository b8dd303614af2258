"""What the engine reports is what it decides on, and it never takes a result back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats.analysis import AnalysisPlan, ArmData, Method, analyse
from stats.decision import PolicySettings
from stats.effects import ArmEstimate
from stats.group_sequential import boundaries, boundary_at, look_fractions
from stats.multiple import Correction

SETTINGS = PolicySettings(alpha=0.05, min_units_per_arm=100)


def _conv(n: int, p: float) -> ArmEstimate:
    return ArmEstimate(n, p, p * (1 - p) / n)


def _arms(n: int, rates: list[float]) -> list[ArmData]:
    return [
        ArmData(f"v{i}", 1 / len(rates), {"conversion": _conv(n, p)}) for i, p in enumerate(rates)
    ]


def _excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


@pytest.mark.parametrize("correction", ["holm", "benjamini-hochberg", "bonferroni"])
def test_significant_exactly_when_the_reported_interval_excludes_zero(
    correction: Correction,
) -> None:
    rng = np.random.default_rng(7)
    disagreements, significant = 0, 0
    for _ in range(400):
        m = int(rng.integers(2, 6))
        rates = [0.05, *(0.05 * (1 + rng.normal(0, 0.08, m)))]
        plan = AnalysisPlan("conversion", 0.05, "confidence-sequence", 40_000, correction)
        result = analyse(_arms(20_000, rates), plan, SETTINGS, 0)
        for arm in result.arms:
            significant += arm.significant
            agree = arm.significant == _excludes_zero(arm.primary.ci_low, arm.primary.ci_high)
            disagreements += not agree
            assert arm.p_adjusted is not None
            assert arm.significant == (arm.p_adjusted <= 0.05)
    assert disagreements == 0
    assert significant > 50  # the check saw both outcomes


def test_holm_rejections_that_a_bonferroni_interval_would_contradict() -> None:
    # Three arms whose raw p-values Holm rejects all, although the middle ones are
    # above α/3: each is reported at the level Holm tested it at.
    plan = AnalysisPlan("conversion", 0.05, "msprt", 60_000, "holm")
    result = analyse(_arms(30_000, [0.05, 0.0572, 0.0565, 0.0561]), plan, SETTINGS, 0)
    for arm in result.arms:
        assert arm.significant == _excludes_zero(arm.primary.ci_low, arm.primary.ci_high)


def test_a_significant_result_stays_significant_as_the_data_regress() -> None:
    plan = AnalysisPlan("conversion", 0.05, "confidence-sequence", 40_000)
    first = analyse(_arms(20_000, [0.05, 0.058]), plan, SETTINGS, 0)
    arm = first.arms[0]
    assert arm.significant and arm.primary.ci_low > 0
    later = analyse(_arms(21_000, [0.05, 0.0502]), plan, SETTINGS, 0, state=first.state)
    again = later.arms[0]
    assert again.significant and again.primary.p_value <= arm.primary.p_value
    # The running intersection: never wider than before, still above 0.
    assert arm.primary.ci_low <= again.primary.ci_low <= again.primary.ci_high
    assert again.primary.ci_high <= arm.primary.ci_high
    fresh = analyse(_arms(21_000, [0.05, 0.0502]), plan, SETTINGS, 0)
    assert not fresh.arms[0].significant  # what the carried state prevents


def test_group_sequential_reports_the_boundary_it_decides_by() -> None:
    plan = AnalysisPlan(
        "conversion", 0.05, "group-sequential", 80_000, horizon_units_per_arm=40_000, looks=20
    )
    # Look 2 of 20: a nominal p of about 0.01 is far from O'Brien–Fleming's early boundary.
    result = analyse(_arms(4_000, [0.05, 0.0625]), plan, SETTINGS, 0, last_look=1)
    arm = result.arms[0]
    assert result.look == 2 and arm.primary.p_value < 0.05
    assert arm.p_boundary is not None and arm.p_boundary < 1e-4
    assert not arm.significant and arm.p_adjusted is None
    c = boundaries(look_fractions(20), 0.05)[1]
    assert arm.p_boundary == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(c)))
    assert "boundary" not in " ".join(result.decision.reasons)  # nothing crossed


def test_a_group_sequential_crossing_is_kept_after_its_look() -> None:
    plan = AnalysisPlan(
        "conversion", 0.05, "group-sequential", 20_000, horizon_units_per_arm=10_000, looks=4
    )
    settings = PolicySettings(alpha=0.05, min_units_per_arm=100, min_runtime_s=3600)
    crossed = analyse(_arms(5_000, [0.05, 0.08]), plan, settings, 10, last_look=1)
    assert crossed.arms[0].significant and crossed.decision.action == "continue"  # runtime
    later = analyse(_arms(5_100, [0.05, 0.06]), plan, settings, 4000, 2, crossed.state)
    assert later.arms[0].significant and later.decision.action == "promote"


def test_boundaries_are_computed_only_as_far_as_the_looks_go() -> None:
    full = boundaries(look_fractions(12), 0.05)
    assert [boundary_at(k, 12, 0.05) for k in range(1, 13)] == pytest.approx(full, abs=1e-12)
    plan = AnalysisPlan(
        "conversion", 0.05, "group-sequential", 2e6, horizon_units_per_arm=1_000_000, looks=1000
    )
    first = analyse(_arms(1_500, [0.05, 0.05]), plan, SETTINGS, 0)
    assert first.boundaries is not None and first.boundaries.look == 1  # not 1 000


def test_a_treatment_that_never_converts_is_rolled_back() -> None:
    methods: tuple[Method, ...] = ("confidence-sequence", "msprt")
    for method in methods:
        plan = AnalysisPlan("conversion", 0.05, method, 20_000)
        arms = [
            ArmData("c", 0.5, {"conversion": _conv(10_000, 0.05)}),
            ArmData("t", 0.5, {"conversion": ArmEstimate(10_000, 0.0, 0.0)}),
        ]
        result = analyse(arms, plan, SETTINGS, 0)
        assert result.decision.action == "rollback", method
        assert math.isfinite(result.arms[0].primary.ci_low)


def test_a_breached_guardrail_stays_breached() -> None:
    plan = AnalysisPlan(
        "conversion", 0.05, "confidence-sequence", 60_000, guardrails=(("ctr", 0.02),)
    )

    def arms(n: int, ctr_t: float) -> list[ArmData]:
        return [
            ArmData("c", 0.5, {"conversion": _conv(n, 0.05), "ctr": _conv(3 * n, 0.30)}),
            ArmData("t", 0.5, {"conversion": _conv(n, 0.05), "ctr": _conv(3 * n, ctr_t)}),
        ]

    first = analyse(arms(30_000, 0.27), plan, SETTINGS, 0)
    assert first.arms[0].guardrails[0].breached
    recovered = analyse(arms(31_000, 0.30), plan, SETTINGS, 0, state=first.state)
    assert recovered.arms[0].guardrails[0].breached
    blind = [
        ArmData(
            "c", 0.5, {"conversion": _conv(31_000, 0.05), "ctr": ArmEstimate(1, 0.3, math.inf)}
        ),
        ArmData(
            "t", 0.5, {"conversion": _conv(31_000, 0.05), "ctr": ArmEstimate(1, 0.3, math.inf)}
        ),
    ]
    assert analyse(blind, plan, SETTINGS, 0, state=first.state).arms[0].guardrails[0].breached
