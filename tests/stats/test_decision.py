"""Every branch of the decision policy."""

from __future__ import annotations

from stats.decision import ArmResult, decide
from stats.sequential import SequentialResult
from stats.srm import SrmResult

OK = SrmResult(0.5, 0.1)


def _arm(name: str, low: float, high: float, units: int = 1000) -> ArmResult:
    effect = (low + high) / 2
    return ArmResult(
        name,
        units,
        SequentialResult(0.2, 0.2 + effect, effect, effect / 0.2, low, high, 0.01, 1e-4),
    )


def test_waits_for_minimum_units() -> None:
    d = decide("control", 100, [_arm("b", 0.01, 0.05)], OK, min_units_per_arm=500)
    assert d.action == "continue" and "fewer than 500 units" in d.reasons[0]


def test_no_promotion_while_srm_fails() -> None:
    d = decide("control", 1000, [_arm("b", 0.01, 0.05)], SrmResult(1e-6, 30.0), 500)
    assert d.action == "continue" and "sample ratio mismatch" in d.reasons[0]


def test_promotes_the_best_significant_winner() -> None:
    d = decide(
        "control",
        1000,
        [_arm("b", 0.01, 0.03), _arm("c", 0.02, 0.08), _arm("d", -0.1, -0.01)],
        OK,
        500,
    )
    assert (d.action, d.winner) == ("promote", "c")


def test_rolls_back_only_when_every_treatment_loses() -> None:
    d = decide("control", 1000, [_arm("b", -0.05, -0.01)], OK, 500)
    assert (d.action, d.winner) == ("rollback", "control")
    d = decide("control", 1000, [_arm("b", -0.05, -0.01), _arm("c", -0.01, 0.02)], OK, 500)
    assert d.action == "continue"


def test_continues_when_nothing_is_significant() -> None:
    d = decide("control", 1000, [_arm("b", -0.01, 0.02)], OK, 500)
    assert d.action == "continue" and d.reasons == ("no significant difference yet",)
