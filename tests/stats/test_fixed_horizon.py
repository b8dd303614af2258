"""Fixed-horizon tests against scipy and hand-computed values."""

from __future__ import annotations

import math

import pytest
from scipy import stats as st

from stats.effects import ArmEstimate, absolute_effect
from stats.fixed_horizon import welch_test, z_test


def test_welch_matches_scipy() -> None:
    control = ArmEstimate(40, 10.0, 4.0**2 / 40)
    treatment = ArmEstimate(25, 12.5, 6.0**2 / 25)
    result = welch_test(absolute_effect(control, treatment), alpha=0.05)
    reference = st.ttest_ind_from_stats(12.5, 6.0, 25, 10.0, 4.0, 40, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_two_proportion_z_by_hand() -> None:
    # 10% of 1000 vs 12% of 1000: z = 0.02 / sqrt(.1*.9/1000 + .12*.88/1000) = 1.4300
    effect = absolute_effect(
        ArmEstimate(1000, 0.10, 0.09 / 1000), ArmEstimate(1000, 0.12, 0.1056 / 1000)
    )
    result = z_test(effect, 0.05)
    z = 0.02 / math.sqrt(0.09 / 1000 + 0.1056 / 1000)
    assert z == pytest.approx(1.4300, abs=1e-4)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert result.ci_low == pytest.approx(0.02 - 1.959964 * math.sqrt(1.956e-4), rel=1e-6)
    greater = z_test(effect, 0.05, "greater")
    assert greater.p_value == pytest.approx(result.p_value / 2) and greater.ci_high == math.inf
    less = z_test(effect, 0.05, "less")
    assert less.p_value == pytest.approx(1 - greater.p_value) and less.ci_low == -math.inf
