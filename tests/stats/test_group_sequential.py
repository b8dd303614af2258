"""Lan–DeMets boundaries against published values, and their error rate by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stats.effects import Effect
from stats.group_sequential import (
    Checkpoint,
    advance,
    boundaries,
    group_sequential,
    look_fractions,
    spent,
)

# R ldbounds / gsDesign, K = 5 equally spaced looks, two-sided alpha = 0.05
LDBOUNDS_OBF = (4.8769, 3.3569, 2.6803, 2.2898, 2.0310)
LDBOUNDS_POCOCK = (2.4380, 2.4268, 2.4101, 2.3966, 2.3859)


def test_obrien_fleming_matches_ldbounds() -> None:
    assert boundaries(look_fractions(5), 0.05) == pytest.approx(LDBOUNDS_OBF, abs=2e-4)


def test_pocock_matches_ldbounds() -> None:
    assert boundaries(look_fractions(5), 0.05, "pocock") == pytest.approx(LDBOUNDS_POCOCK, abs=2e-4)


def test_one_look_is_the_fixed_horizon_test() -> None:
    assert boundaries((1.0,), 0.05) == pytest.approx((1.959964,), abs=1e-6)
    assert spent(1.0, 0.05, "obrien-fleming") == pytest.approx(0.05)
    assert spent(1.0, 0.05, "pocock") == pytest.approx(0.05)


def test_error_rate_over_twenty_looks_by_simulation() -> None:
    rng = np.random.default_rng(7)
    looks = 20
    c = np.array(boundaries(look_fractions(looks), 0.05))
    increments = rng.standard_normal((20000, looks))
    z = np.cumsum(increments, axis=1) / np.sqrt(np.arange(1, looks + 1))
    rate = (np.abs(z) >= c).any(axis=1).mean()
    assert rate == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / 20000))


def test_repeated_interval_and_rejection() -> None:
    result = group_sequential(Effect(0.05, 1e-4, 1000, math.inf, True), boundary=2.0)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.03, 0.07))
    assert result.rejects
    assert not group_sequential(Effect(0.05, 1e-4, 1000, math.inf, True), boundary=8.0).rejects


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        boundaries((0.5, 0.5), 0.05)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        boundaries((0.5, 1.5), 0.05)
    with pytest.raises(ValueError, match="looks"):
        look_fractions(0)


def test_the_recursion_resumed_from_a_checkpoint_is_the_full_recursion() -> None:
    full = boundaries(look_fractions(12), 0.05)
    at_5 = advance(12, 0.05, "obrien-fleming", 5)
    assert at_5.look == 5 and at_5.boundary == full[4]
    carried = Checkpoint(**{**vars(at_5), "density": tuple(at_5.density)})  # as stored
    assert [advance(12, 0.05, "obrien-fleming", k, carried).boundary for k in range(5, 13)] == (
        list(full[4:])
    )
    assert advance(12, 0.05, "obrien-fleming", 5, carried) is carried  # nothing to do
    # Another plan's checkpoint, or one past the look asked for, is not resumed.
    assert advance(12, 0.05, "pocock", 6, carried).boundary == pytest.approx(
        boundaries(look_fractions(12), 0.05, "pocock")[5], abs=1e-12
    )
    assert advance(12, 0.05, "obrien-fleming", 3, carried).boundary == full[2]
