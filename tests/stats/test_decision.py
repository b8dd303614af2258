"""Every branch of the decision policy."""

from __future__ import annotations

import math

from stats.decision import ArmAnalysis, GuardrailResult, PolicySettings, decide
from stats.inference import Inference
from stats.srm import SrmResult

OK_SRM = SrmResult(0.5, 0.4)
SETTINGS = PolicySettings(alpha=0.05, min_units_per_arm=100, min_runtime_s=60, max_runtime_s=3600)


def _arm(
    name: str, lift: float, significant: bool, units: int = 1000, breached: bool = False
) -> ArmAnalysis:
    primary = Inference("confidence-sequence", lift, lift - 0.01, lift + 0.01, 0.01)
    guard = Inference(
        "confidence-sequence",
        -0.05 if breached else 0.0,
        -math.inf,
        -0.03 if breached else 0.02,
        0.01 if breached else 0.6,
        -0.02,
        "less",
    )
    return ArmAnalysis(
        name,
        units,
        primary,
        0.01 if significant else 0.4,
        significant,
        (GuardrailResult("click_through_rate", 0.02, guard),),
        direction=(1 if lift > 0 else -1) if significant else 0,
    )


def test_continue_below_min_units_and_stop_past_max_runtime() -> None:
    arms = [_arm("b", 0.2, True, units=50)]
    assert decide("a", 1000, arms, OK_SRM, SETTINGS, 100).action == "continue"
    late = decide("a", 1000, arms, OK_SRM, SETTINGS, 4000)
    assert late.action == "stop-inconclusive" and late.winner == "a"
    assert "fewer than 100 units in ['b']" in late.reasons[0]


def test_srm_blocks_every_action() -> None:
    bad = SrmResult(1e-6, 30.0)
    for arm in (_arm("b", 0.2, True), _arm("b", -0.2, True)):
        decision = decide("a", 1000, [arm], bad, SETTINGS, 100)
        assert decision.action == "continue" and "sample ratio mismatch" in decision.reasons[0]


def test_promotes_the_best_winner_after_the_minimum_runtime() -> None:
    arms = [_arm("b", 0.05, True), _arm("c", 0.08, True), _arm("d", 0.2, False)]
    early = decide("a", 1000, arms, OK_SRM, SETTINGS, 30)
    assert early.action == "continue" and "minimum runtime" in early.reasons[-1]
    decision = decide("a", 1000, arms, OK_SRM, SETTINGS, 120)
    assert decision.action == "promote" and decision.winner == "c"


def test_a_breached_guardrail_blocks_promotion_and_rolls_back() -> None:
    decision = decide("a", 1000, [_arm("b", 0.1, True, breached=True)], OK_SRM, SETTINGS, 120)
    assert decision.action == "rollback" and decision.winner == "a"
    assert "breaches guardrail click_through_rate" in decision.reasons[0]


def test_rollback_needs_every_treatment_to_lose_and_is_not_delayed() -> None:
    both = [_arm("b", -0.1, True), _arm("c", -0.05, True)]
    assert decide("a", 1000, both, OK_SRM, SETTINGS, 1).action == "rollback"
    mixed = [_arm("b", -0.1, True), _arm("c", 0.0, False)]
    assert decide("a", 1000, mixed, OK_SRM, SETTINGS, 120).action == "stop-arms"  # b alone


def test_stop_inconclusive_at_the_horizon_or_max_runtime() -> None:
    flat = [_arm("b", 0.0, False)]
    assert decide("a", 1000, flat, OK_SRM, SETTINGS, 120).action == "continue"
    horizon = decide("a", 1000, flat, OK_SRM, SETTINGS, 120, horizon_reached=True)
    assert horizon.action == "stop-inconclusive" and "planned horizon" in horizon.reasons[-1]
    expired = decide("a", 1000, flat, OK_SRM, SETTINGS, 3600)
    assert expired.action == "stop-inconclusive" and "maximum runtime" in expired.reasons[-1]


def test_what_blocks_a_decision_is_named() -> None:
    assert decide(
        "a", 1000, [_arm("b", 0.2, True, units=50)], OK_SRM, SETTINGS, 100
    ).blocked_by == ("min_units",)
    assert decide(
        "a", 1000, [_arm("b", 0.2, True)], SrmResult(1e-6, 30.0), SETTINGS, 100
    ).blocked_by == ("srm",)
    assert decide("a", 1000, [_arm("b", 0.2, True)], OK_SRM, SETTINGS, 30).blocked_by == (
        "min_runtime",
    )
    assert decide("a", 1000, [_arm("b", 0.0, False)], OK_SRM, SETTINGS, 100).blocked_by == ()


def test_an_arm_that_loses_among_several_is_stopped_on_its_own() -> None:
    # Issue 20 §6 D2: one treatment of two loses; the other is still open.
    arms = [_arm("b", -0.2, True), _arm("c", 0.0, False)]
    decision = decide("a", 1000, arms, OK_SRM, SETTINGS, 1)  # not delayed by the min runtime
    assert decision.action == "stop-arms" and decision.stopped == ("b",)
    assert decision.winner is None and decision.blocked_by == ()
    assert any(r.startswith("b loses to a: lift -20.0%") for r in decision.reasons)
    assert "stopping b: its traffic goes to a" in decision.reasons[-1]
    assert "no significant difference yet" not in " ".join(decision.reasons)
    # An arm out on a guardrail is stopped the same way, a winner's breach included.
    out = decide("a", 1000, [_arm("b", 0.2, True, breached=True), _arm("c", 0.0, False)],
                 OK_SRM, SETTINGS, 100)  # fmt: skip
    assert (out.action, out.stopped) == ("stop-arms", ("b",))
    assert "breaches guardrail click_through_rate" in out.reasons[0]


def test_no_arm_is_stopped_while_a_decision_on_the_whole_test_is_due_or_blocked() -> None:
    loser = _arm("b", -0.2, True)
    # A winner waiting for the minimum runtime: a new phase would start its test afresh.
    pending = decide("a", 1000, [loser, _arm("c", 0.1, True)], OK_SRM, SETTINGS, 30)
    assert pending.action == "continue" and pending.stopped == ()
    # Data that cannot be trusted stop nothing.
    assert decide("a", 1000, [loser, _arm("c", 0.0, False)], SrmResult(1e-6, 30.0), SETTINGS,
                  100).action == "continue"  # fmt: skip
    # Past the maximum runtime the whole test stops instead.
    late = decide("a", 1000, [loser, _arm("c", 0.0, False)], OK_SRM, SETTINGS, 4000)
    assert late.action == "stop-inconclusive"


def _harm(metric: str, harmed: bool, alternative: str = "less") -> GuardrailResult:
    high = -0.01 if harmed else 0.03
    bound = Inference("confidence-sequence", -0.04, -math.inf, high, 0.001, 0.0, "less")
    if alternative == "greater":
        bound = Inference(
            "confidence-sequence", 0.04, 0.01 if harmed else -0.03, math.inf, 0.001, 0.0, "greater"
        )
    return GuardrailResult(metric, 0.0, bound)


def test_a_winner_worse_on_a_deterioration_metric_is_not_promoted() -> None:
    from dataclasses import replace

    winner = _arm("b", 0.1, True)
    harmed = replace(winner, deteriorations=(_harm("abandonment_rate", True, "greater"),))
    decision = decide("a", 1000, [harmed], OK_SRM, SETTINGS, 120)
    assert decision.action == "continue" and decision.rule == "deterioration"
    assert decision.blocked_by == ("deterioration",)
    assert "significantly worse on abandonment_rate (up +4.0%" in decision.reasons[0]
    clean = replace(winner, deteriorations=(_harm("abandonment_rate", False, "greater"),))
    promoted = decide("a", 1000, [clean], OK_SRM, SETTINGS, 120)
    assert promoted.action == "promote" and promoted.rule == "success"
    # another winner without harm is promoted instead
    other = _arm("c", 0.05, True)
    assert decide("a", 1000, [harmed, other], OK_SRM, SETTINGS, 120).winner == "c"


def test_lower_is_better_wins_below_zero() -> None:
    from dataclasses import replace

    lower = replace(_arm("b", -0.1, True), better=-1)
    decision = decide("a", 1000, [lower], OK_SRM, SETTINGS, 120)
    assert decision.action == "promote" and decision.winner == "b"
    worse = replace(_arm("b", 0.1, True), better=-1)
    assert decide("a", 1000, [worse], OK_SRM, SETTINGS, 120).action == "rollback"


def test_every_decision_names_its_rule() -> None:
    cases = {
        "min_units": decide("a", 1000, [_arm("b", 0.2, True, units=50)], OK_SRM, SETTINGS, 100),
        "srm": decide("a", 1000, [_arm("b", 0.2, True)], SrmResult(1e-6, 30.0), SETTINGS, 100),
        "min_runtime": decide("a", 1000, [_arm("b", 0.2, True)], OK_SRM, SETTINGS, 30),
        "success": decide("a", 1000, [_arm("b", 0.2, True)], OK_SRM, SETTINGS, 120),
        "inferior": decide("a", 1000, [_arm("b", -0.2, True)], OK_SRM, SETTINGS, 120),
        "guardrail": decide(
            "a", 1000, [_arm("b", 0.2, True, breached=True)], OK_SRM, SETTINGS, 120
        ),
        "max_runtime": decide("a", 1000, [_arm("b", 0.0, False)], OK_SRM, SETTINGS, 4000),
        "no_difference": decide("a", 1000, [_arm("b", 0.0, False)], OK_SRM, SETTINGS, 120),
    }
    assert {rule: d.rule for rule, d in cases.items()} == {rule: rule for rule in cases}
