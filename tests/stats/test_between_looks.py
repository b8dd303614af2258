"""Group-sequential tests between their planned looks: nothing reported changes meaning.

A look is taken, and a boundary crossed, only at the planned looks; the worker
evaluates every few seconds in between. Whatever it reports between two looks
is the inference of the last look taken (issue 20 §6 D1).
"""

from __future__ import annotations

import math

import numpy as np

from stats.analysis import AnalysisPlan, ArmData, analyse
from stats.decision import PolicySettings
from stats.effects import ArmEstimate

SETTINGS = PolicySettings(alpha=0.05, min_units_per_arm=100)
# 100 looks up to 200 000 users per arm: look 50 at 100 000, look 51 at 102 000.
PLAN = AnalysisPlan("conversion", 0.05, "group-sequential", 400_000, horizon_units_per_arm=200_000)


def _conv(n: int, converters: int) -> ArmEstimate:
    p = converters / n
    return ArmEstimate(n, p, p * (1 - p) / n)


def _arms(n: int, control: int, treatment: int) -> list[ArmData]:
    return [
        ArmData("control", 0.5, {"conversion": _conv(n, control)}),
        ArmData("candidate", 0.5, {"conversion": _conv(n, treatment)}),
    ]


def _excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


def test_between_looks_the_last_looks_inference_is_reported() -> None:
    # Look 50 of 100 at 100 000 users per arm: a lift of 4.9 % (nominal p 0.017), inside the
    # boundary (nominal 0.00197); its repeated confidence interval is (-0.0145, 0.1133).
    at_look = analyse(_arms(100_000, 4_800, 5_037), PLAN, SETTINGS, 0)
    assert at_look.look == 50
    look_arm = at_look.arms[0]
    assert not look_arm.significant
    assert not _excludes_zero(look_arm.primary.ci_low, look_arm.primary.ci_high)
    # 101 000 users per arm, before look 51, the harness's figures: read against look 50's
    # boundary, the lift of 7.1 % had a nominal p of 0.00067 < 0.00197 and the interval
    # (0.0064, 0.1133) excluded 0, while the arm was not significant (no look was taken).
    between = analyse(_arms(101_000, 4_848, 5_192), PLAN, SETTINGS, 0, at_look.look, at_look.state)
    assert between.look == 50
    arm = between.arms[0]
    assert arm.p_boundary is not None and math.isclose(arm.p_boundary, 0.00197, abs_tol=1e-5)
    assert not arm.significant
    assert not _excludes_zero(arm.primary.ci_low, arm.primary.ci_high)
    assert arm.primary.p_value > arm.p_boundary
    assert arm.primary == look_arm.primary  # look 50's inference, unchanged
    assert between.decision.action == "continue"


def _simulate(rng: np.random.Generator, plan: AnalysisPlan, per_look: int) -> tuple[bool, int]:
    """One A/A test evaluated ``per_look`` times per look: (every reported interval covered
    the true lift 0, evaluations where significant and "excludes 0" disagreed)."""
    assert plan.horizon_units_per_arm
    steps = plan.looks * per_look
    sums = np.zeros((2, 2))
    covered, disagreements, served = True, 0, 0
    last, state, boundaries = 0, None, None
    for step in range(1, steps + 1):
        n = plan.horizon_units_per_arm * step // steps
        x = rng.normal(10.0, 1.0, (2, n - served))
        sums += np.stack([x.sum(axis=1), (x * x).sum(axis=1)], axis=1)
        served = n
        arms = []
        for i, (s, ss) in enumerate(sums):
            mean = s / n
            arms.append(
                ArmData(f"v{i}", 0.5, {"conversion": ArmEstimate(n, mean, (ss / n - mean**2) / n)})
            )
        result = analyse(arms, plan, SETTINGS, 0, last, state, boundaries)
        last, state, boundaries = result.look, result.state, result.boundaries
        arm = result.arms[0]
        excludes = _excludes_zero(arm.primary.ci_low, arm.primary.ci_high)
        covered = covered and not excludes
        disagreements += excludes != arm.significant
    return covered, disagreements


def test_the_reported_interval_covers_uniformly_when_evaluated_between_looks() -> None:
    # Two Pocock looks at alpha 0.3 (large errors, so that few replicates tell them apart),
    # ten evaluations per look. The repeated confidence intervals of the two looks cover the
    # true lift together with probability 0.70; reading the first look's boundary against
    # the data between the looks (ten more looks, in effect) covered it with about 0.60
    # (0.58 with this seed), and the interval excluded 0 at 523 evaluations that were not
    # significant.
    plan = AnalysisPlan(
        "conversion", 0.3, "group-sequential", 4_000,
        horizon_units_per_arm=2_000, looks=2, spending="pocock",
    )  # fmt: skip
    rng = np.random.default_rng(20)
    replicates = 400
    results = [_simulate(rng, plan, per_look=10) for _ in range(replicates)]
    coverage = sum(c for c, _ in results) / replicates
    assert sum(d for _, d in results) == 0
    standard_error = math.sqrt(0.7 * 0.3 / replicates)
    assert coverage >= 0.7 - 3 * standard_error, coverage
