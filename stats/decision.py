"""Decision policy: one experiment's results and settings → continue / promote / rollback / stop.

Pure and total: every branch returns its reasons in words. The rules, in order:

1. Not enough units in some arm → continue (or stop-inconclusive past the
   maximum runtime or the planned horizon).
2. Sample ratio mismatch → do nothing but report it: the data cannot be
   trusted, for a promotion or a rollback (stop-inconclusive past the maximum
   runtime or the planned horizon: no later look can settle it).
3. A treatment whose guardrail is significantly breached is out.
4. Winners are treatments significantly better on the primary metric with no
   breached guardrail. A winner significantly worse on a deterioration metric
   is not promoted (it goes on running; a person decides). Promote the best —
   but only once the minimum runtime has passed (day-of-week and novelty
   effects); rolling back is never delayed.
5. Every treatment significantly worse or out on a guardrail → rollback.
6. Past the maximum runtime, or past the planned horizon's last look →
   stop-inconclusive (keep control).
7. Some treatments, not all, significantly worse or out on a guardrail →
   stop those arms (their traffic goes to control, in a new phase) and go on
   with the others; like a rollback, never delayed.
8. Otherwise continue.

"Better" is the primary metric's direction (higher, or lower for a metric such
as abandonment). Every decision names the rule that fired (:data:`Rule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stats.inference import Inference
from stats.srm import SrmResult

Action = Literal["continue", "promote", "rollback", "stop-inconclusive", "stop-arms"]


@dataclass(frozen=True)
class PolicySettings:
    alpha: float
    min_units_per_arm: int
    min_runtime_s: float = 0.0
    max_runtime_s: float | None = None


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    margin: float  # relative: the treatment may be at most this much worse
    inference: Inference  # one-sided, H0: lift >= -margin

    @property
    def breached(self) -> bool:
        return self.inference.rejects


@dataclass(frozen=True)
class ArmAnalysis:
    variant: str
    units: int
    primary: Inference  # lift of the primary metric: what is reported is what is decided on
    p_adjusted: float | None  # always-valid methods: after the multiple-arm correction
    significant: bool  # by the method's own rule, after the multiple-arm correction
    guardrails: tuple[GuardrailResult, ...] = ()
    direction: int = 0  # +1 / -1: the side of 0 its significant result is on
    relative: bool = True  # False: an absolute difference (the control's mean is 0)
    p_boundary: float | None = None  # group-sequential: the nominal level of this look's boundary
    look: int | None = None  # group-sequential: the look reported
    better: int = 1  # the primary metric's better side: +1 higher, -1 lower
    # deterioration tests (one-sided, H0: no harm), each a GuardrailResult with margin 0
    deteriorations: tuple[GuardrailResult, ...] = ()

    @property
    def wins(self) -> bool:
        return self.significant and self.direction == self.better

    @property
    def loses(self) -> bool:
        return self.significant and self.direction == -self.better

    @property
    def harmed(self) -> tuple[GuardrailResult, ...]:
        return tuple(d for d in self.deteriorations if d.breached)

    @property
    def breached(self) -> tuple[GuardrailResult, ...]:
        return tuple(g for g in self.guardrails if g.breached)


# What keeps a decision from being taken, by name (the reasons say it in words).
Block = Literal["min_units", "srm", "min_runtime", "guardrail", "deterioration"]
# The rule that fired, by name: the decision's reasons say it in words.
Rule = Literal[
    "min_units",  # too few units in some arm
    "srm",  # sample ratio mismatch: the data are not acted on
    "success",  # a treatment wins on the success metric: promoted
    "min_runtime",  # a winner waits for the minimum runtime
    "deterioration",  # a winner is significantly worse on another metric: not promoted
    "guardrail",  # treatments out on a guardrail (rolled back or stopped)
    "inferior",  # treatments significantly worse on the success metric
    "max_runtime",  # stopped: the maximum runtime passed with no decision
    "horizon",  # stopped: the planned horizon passed with no decision
    "no_difference",  # nothing significant yet: continue
]


@dataclass(frozen=True)
class Decision:
    action: Action
    winner: str | None
    reasons: tuple[str, ...]
    blocked_by: tuple[Block, ...] = ()
    stopped: tuple[str, ...] = ()  # "stop-arms": the treatments to stop
    rule: Rule = "no_difference"


def _lift(arm: ArmAnalysis) -> str:
    """The estimate and the evidence the decision used, in words."""
    size = (
        f"lift {arm.primary.estimate:+.1%}"
        if arm.relative
        else f"difference {arm.primary.estimate:+.4g} (control mean is 0)"
    )
    if arm.p_boundary is not None:
        return (
            f"{size}, nominal p={arm.primary.p_value:.2g} against the look-{arm.look} "
            f"boundary's {arm.p_boundary:.2g}"
        )
    return f"{size}, always-valid p={arm.p_adjusted:.2g}"


def decide(
    control: str,
    control_units: int,
    arms: Sequence[ArmAnalysis],
    srm: SrmResult,
    settings: PolicySettings,
    runtime_s: float,
    horizon_reached: bool = False,
) -> Decision:
    """Apply the rules above to one experiment."""
    expired = settings.max_runtime_s is not None and runtime_s >= settings.max_runtime_s
    ended = ""  # why the test is over, if it is
    end_rule: Rule = "no_difference"
    if expired:
        ended, end_rule = "maximum runtime reached", "max_runtime"
    elif horizon_reached:
        ended, end_rule = "planned horizon reached", "horizon"
    small = [a.variant for a in arms if a.units < settings.min_units_per_arm]
    if control_units < settings.min_units_per_arm:
        small.insert(0, control)
    if small:
        reason = f"fewer than {settings.min_units_per_arm} units in {small}"
        if ended:
            return Decision("stop-inconclusive", control, (reason, ended), rule=end_rule)
        return Decision("continue", None, (reason,), ("min_units",), rule="min_units")
    if srm.mismatch:
        reason = f"sample ratio mismatch (p={srm.p_value:.2g}); not acting on these data"
        if ended:
            return Decision("stop-inconclusive", control, (reason, ended), rule=end_rule)
        return Decision("continue", None, (reason,), ("srm",), rule="srm")

    reasons: list[str] = []
    out: set[str] = set()
    for arm in arms:
        for g in arm.breached:
            out.add(arm.variant)
            reasons.append(f"{arm.variant} breaches guardrail {g.metric}: {_bound(g)}")
    winners = sorted(
        (a for a in arms if a.wins and a.variant not in out),
        key=lambda a: -a.better * a.primary.estimate,
    )
    harmed = [a for a in winners if a.harmed]
    winners = [a for a in winners if not a.harmed]
    for a in harmed:
        worse = "; ".join(f"{d.metric} {_harm(d)}" for d in a.harmed)
        reasons.append(
            f"{a.variant} beats {control} ({_lift(a)}) but is significantly worse on {worse}: "
            "not promoted (deterioration); stop it or promote it by hand"
        )
    if winners:
        best = winners[0]
        why = f"{best.variant} beats {control}: {_lift(best)}"
        if runtime_s < settings.min_runtime_s:
            return Decision(
                "continue",
                None,
                (
                    *reasons,
                    why,
                    f"waiting for the minimum runtime "
                    f"({runtime_s:.0f}s of {settings.min_runtime_s:.0f}s)",
                ),
                ("min_runtime",),
                rule="min_runtime",
            )
        return Decision("promote", best.variant, (*reasons, why), rule="success")
    stopped = [a for a in arms if a.loses or a.variant in out]
    losing = [f"{a.variant} loses to {control}: {_lift(a)}" for a in stopped if a.loses]
    rule: Rule = "guardrail" if out else "inferior"
    if arms and len(stopped) == len(arms):
        return Decision("rollback", control, (*reasons, *losing), rule=rule)
    if ended:
        return Decision(
            "stop-inconclusive",
            control,
            (*reasons, f"{ended} with no significant difference"),
            rule=end_rule,
        )
    if stopped:
        names = [a.variant for a in stopped]
        rest = [a.variant for a in arms if a.variant not in names]
        whose = "its" if len(names) == 1 else "their"
        why = (
            f"stopping {', '.join(names)}: {whose} traffic goes to {control} in a new phase; "
            f"the test goes on for {', '.join(rest)}"
        )
        return Decision(
            "stop-arms", None, (*reasons, *losing, why), stopped=tuple(names), rule=rule
        )
    if harmed:
        return Decision("continue", None, tuple(reasons), ("deterioration",), rule="deterioration")
    return Decision("continue", None, (*reasons, "no significant difference yet"))


def _bound(g: GuardrailResult) -> str:
    """A breached one-sided test in words: its lift against the margin it was held to."""
    i = g.inference
    if i.alternative == "greater":  # lower is better: breached above +margin
        return f"lift {i.estimate:+.1%} is significantly above +{g.margin:.1%} (p={i.p_value:.2g})"
    return f"lift {i.estimate:+.1%} is significantly below -{g.margin:.1%} (p={i.p_value:.2g})"


def _harm(d: GuardrailResult) -> str:
    i = d.inference
    side = "up" if i.alternative == "greater" else "down"
    return f"({side} {i.estimate:+.1%}, p={i.p_value:.2g})"
