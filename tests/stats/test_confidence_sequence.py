"""GrowthBook's asymptotic confidence sequence against hand-computed golden values."""

from __future__ import annotations

import math

import pytest

from stats.confidence_sequence import (
    GROWTHBOOK_DEFAULT_TUNING,
    confidence_sequence,
    confidence_sequence_one_sided,
    halfwidth,
    rho_squared,
)
from stats.effects import Effect
from stats.sequential import msprt, tau2_for_horizon


def test_rho_golden() -> None:
    # alpha = 0.05: -2 ln 0.05 = 5.991465, ln(6.991465) = 1.944691; over N* = 5000
    assert rho_squared(0.05, 5000) == pytest.approx((5.991465 + 1.944691) / 5000, rel=1e-6)


def test_halfwidth_golden_by_hand() -> None:
    # V = 1e-5 at n = 20000 total units, N* = 5000, alpha = 0.05:
    # s2 = V n = 0.2; n rho^2 = 20000 * 0.00158723 = 31.7446;
    # half = sqrt(0.2) * sqrt(2 * 32.7446 / (20000^2 * 0.00158723) * ln(sqrt(32.7446) / 0.05))
    r2 = (5.991465 + 1.944691) / 5000
    nr = 20000 * r2 + 1
    expected = math.sqrt(0.2) * math.sqrt(2 * nr / (20000**2 * r2) * math.log(math.sqrt(nr) / 0.05))
    assert float(halfwidth(1e-5, 20000, 5000, 0.05)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.0098888, rel=1e-4)
    # the engine's interval (the normal mixture at tau^2 = V n rho^2) is the same expression
    result = confidence_sequence(Effect(0.0, 1e-5, 20000, math.inf, False), 0.05, 5000)
    assert result.ci_high == pytest.approx(expected, rel=1e-6)


def test_p_value_and_interval_agree() -> None:
    for estimate in (0.001, 0.009, 0.0099, 0.0105, 0.03):
        result = confidence_sequence(Effect(estimate, 1e-5, 20000, math.inf, False), 0.05, 5000)
        assert result.rejects == (result.p_value <= 0.05), estimate


def test_is_the_msprt_with_tau2_tuned_to_the_same_horizon() -> None:
    effect = Effect(0.012, 1e-5, 20000, math.inf, relative=True)
    cs = confidence_sequence(effect, 0.05, 40000)
    ms = msprt(effect, 0.05, tau2_for_horizon(effect.variance * effect.units, 40000, 0.05))
    assert (cs.ci_low, cs.ci_high, cs.p_value) == pytest.approx((ms.ci_low, ms.ci_high, ms.p_value))


def test_larger_tuning_is_wider_early_and_narrower_late() -> None:
    small, large = GROWTHBOOK_DEFAULT_TUNING, 400_000
    early, late = 4_000, 400_000
    assert halfwidth(1 / early, early, large, 0.05) > halfwidth(1 / early, early, small, 0.05)
    assert halfwidth(1 / late, late, large, 0.05) < halfwidth(1 / late, late, small, 0.05)


def test_one_sided_bound_is_tighter_than_the_two_sided_one() -> None:
    effect = Effect(-0.02, 1e-4, 50000, math.inf, relative=True)
    two = confidence_sequence(effect, 0.05, 50000)
    less = confidence_sequence_one_sided(effect, 0.05, 50000, "less", null=-0.01)
    assert less.ci_low == -math.inf and less.ci_high < two.ci_high
    greater = confidence_sequence_one_sided(effect, 0.05, 50000, "greater")
    assert greater.ci_high == math.inf and greater.ci_low > two.ci_low


def test_undefined_effect_and_bad_parameters() -> None:
    result = confidence_sequence(Effect(0.0, math.inf, 0, math.inf, False), 0.05, 5000)
    assert result.p_value == 1.0 and not result.rejects
    with pytest.raises(ValueError, match="alpha"):
        rho_squared(0.0, 5000)
    with pytest.raises(ValueError, match="tuning"):
        rho_squared(0.05, -1)
