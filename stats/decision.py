"""Decision policy: from one experiment's test results to continue / promote / rollback, with reasons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stats.sequential import SequentialResult
from stats.srm import SrmResult

Action = Literal["continue", "promote", "rollback"]


@dataclass(frozen=True)
class ArmResult:
    variant: str
    units: int
    result: SequentialResult


@dataclass(frozen=True)
class Decision:
    action: Action
    winner: str | None
    reasons: tuple[str, ...]


def decide(
    control: str,
    control_units: int,
    arms: Sequence[ArmResult],
    srm: SrmResult,
    min_units_per_arm: int,
) -> Decision:
    """Promote the best significant winner, roll back when every treatment significantly loses.

    The arms' results must already use a per-comparison alpha corrected for the
    number of treatments. Nothing is promoted while the SRM check fails.
    """
    small = [a.variant for a in arms if a.units < min_units_per_arm]
    if control_units < min_units_per_arm:
        small.insert(0, control)
    if small:
        return Decision("continue", None, (f"fewer than {min_units_per_arm} units in {small}",))
    if srm.mismatch:
        return Decision(
            "continue", None, (f"sample ratio mismatch (p={srm.p_value:.2g}); not acting",)
        )
    winners = sorted((a for a in arms if a.result.ci_low > 0), key=lambda a: -a.result.effect)
    if winners:
        best = winners[0]
        return Decision(
            "promote",
            best.variant,
            (
                f"{best.variant} beats {control}: lift {best.result.relative_lift:+.1%}, "
                f"always-valid p={best.result.p_value:.2g}",
            ),
        )
    if arms and all(a.result.ci_high < 0 for a in arms):
        return Decision(
            "rollback",
            control,
            tuple(
                f"{a.variant} loses to {control}: lift {a.result.relative_lift:+.1%}, "
                f"always-valid p={a.result.p_value:.2g}"
                for a in arms
            ),
        )
    return Decision("continue", None, ("no significant difference yet",))
