"""One experiment through the engine: methods, looks, corrections, guardrails."""

from __future__ import annotations

import pytest

from stats.analysis import AnalysisPlan, ArmData, Method, analyse, current_look
from stats.decision import PolicySettings
from stats.effects import ArmEstimate

SETTINGS = PolicySettings(alpha=0.05, min_units_per_arm=100)


def _conv(n: int, p: float) -> ArmEstimate:
    return ArmEstimate(n, p, p * (1 - p) / n)


def _arms(n: int, rates: list[float], ctr: list[float] | None = None) -> list[ArmData]:
    ctr = ctr or [0.3] * len(rates)
    return [
        ArmData(f"v{i}", 1 / len(rates), {"conversion": _conv(n, p), "ctr": _conv(3 * n, c)})
        for i, (p, c) in enumerate(zip(rates, ctr, strict=True))
    ]


def test_group_sequential_acts_once_per_look_and_stops_at_the_horizon() -> None:
    plan = AnalysisPlan(
        "conversion", 0.05, "group-sequential", 80_000, horizon_units_per_arm=40_000, looks=4
    )
    assert current_look(25_000, plan) == 2
    flat = _arms(20_000, [0.05, 0.05])
    first = analyse(flat, plan, SETTINGS, 0, last_look=0)
    assert first.look == 2 and first.decision.action == "continue"
    # same look again: nothing new to act on, even on a big effect
    big = _arms(20_000, [0.05, 0.07])
    assert not analyse(big, plan, SETTINGS, 0, last_look=2).arms[0].significant
    assert analyse(big, plan, SETTINGS, 0, last_look=1).decision.action == "promote"
    end = analyse(_arms(40_000, [0.05, 0.05]), plan, SETTINGS, 0, last_look=3)
    assert end.look == 4 and end.decision.action == "stop-inconclusive"


def test_always_valid_methods_with_holm_across_arms() -> None:
    arms = _arms(30_000, [0.05, 0.05, 0.058, 0.0505])
    methods: tuple[Method, ...] = ("confidence-sequence", "msprt")
    for method in methods:
        plan = AnalysisPlan("conversion", 0.05, method, 60_000)
        result = analyse(arms, plan, SETTINGS, 0)
        adjusted = [a.p_adjusted for a in result.arms if a.p_adjusted is not None]
        raw_best = min(a.primary.p_value for a in result.arms)
        assert min(adjusted) >= raw_best  # Holm never lowers a p-value
        assert result.decision.action == "promote" and result.decision.winner == "v2"


def test_guardrail_breach_rolls_back_a_primary_winner() -> None:
    arms = _arms(30_000, [0.05, 0.06], ctr=[0.30, 0.27])
    plan = AnalysisPlan(
        "conversion", 0.05, "confidence-sequence", 60_000, guardrails=(("ctr", 0.02),)
    )
    result = analyse(arms, plan, SETTINGS, 0)
    guard = result.arms[0].guardrails[0]
    assert guard.breached and guard.inference.ci_high < -0.02
    assert result.decision.action == "rollback"


def test_srm_is_checked_against_the_weights() -> None:
    arms = _arms(30_000, [0.05, 0.06])
    arms[1] = ArmData("v1", 0.5, {"conversion": _conv(27_000, 0.06), "ctr": _conv(81_000, 0.3)})
    result = analyse(
        arms, AnalysisPlan("conversion", 0.05, "confidence-sequence", 60_000), SETTINGS, 0
    )
    assert result.srm.mismatch and result.decision.action == "continue"


def test_group_sequential_needs_a_horizon() -> None:
    with pytest.raises(ValueError, match="horizon"):
        AnalysisPlan("conversion", 0.05, "group-sequential", 1000)


def test_a_last_look_blocked_by_srm_still_stops_past_the_horizon() -> None:
    plan = AnalysisPlan(
        "conversion", 0.05, "group-sequential", 20_000, horizon_units_per_arm=10_000, looks=4
    )

    def arms(control: int, treatment: int) -> list[ArmData]:
        return [
            ArmData("v0", 0.5, {"conversion": _conv(control, 0.05)}),
            ArmData("v1", 0.5, {"conversion": _conv(treatment, 0.05)}),
        ]

    # The last planned look is taken while the split is off: no later look can settle it, so
    # the test stops (keeping control) — at that evaluation and at any later one, whether the
    # mismatch persists or not (it used to wait for a look that would never come).
    last = analyse(arms(10_000, 10_600), plan, SETTINGS, 0, last_look=3)
    assert last.look == 4 and last.srm.mismatch
    assert last.decision.action == "stop-inconclusive", last.decision
    assert last.decision.reasons[-1] == "planned horizon reached"
    for later in (arms(10_100, 10_700), arms(10_700, 10_700)):
        after = analyse(later, plan, SETTINGS, 0, last.look, last.state, last.boundaries)
        assert after.look == 4
        assert after.decision.action == "stop-inconclusive", after.decision
        assert "planned horizon reached" in after.decision.reasons[-1]
