"""The retry schedule: equal-jitter exponential backoff, capped, given up after the limit."""

from __future__ import annotations

import random

import pytest

from gateway.errors import ConfigError
from gateway.webhooks.backoff import RetryPolicy


def test_steps_double_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=10, base_s=10.0, cap_s=100.0)
    assert [policy.step(n) for n in range(1, 7)] == [10.0, 20.0, 40.0, 80.0, 100.0, 100.0]


def test_delay_is_between_half_the_step_and_the_step() -> None:
    policy = RetryPolicy(attempts=10, base_s=10.0, cap_s=100.0)
    assert policy.delay(1, 0.0) == 5.0
    assert policy.delay(2, 0.5) == 15.0  # 20/2 + 0.5 * 20/2
    assert policy.delay(3, 0.999) == pytest.approx(40.0, abs=0.03)
    rng = random.Random(7)
    for failed in range(1, 10):
        step = policy.step(failed)
        for _ in range(50):
            wait = policy.delay(failed, rng.random())
            assert wait is not None and step / 2 <= wait < step


def test_gives_up_after_the_last_attempt() -> None:
    policy = RetryPolicy(attempts=3, base_s=1.0, cap_s=60.0)
    assert policy.delay(1, 0.0) is not None
    assert policy.delay(2, 0.0) is not None
    assert policy.delay(3, 0.0) is None  # three attempts made: no fourth
    assert RetryPolicy(attempts=1).delay(1, 0.3) is None


def test_jitter_spreads_retries_of_many_deliveries() -> None:
    policy = RetryPolicy(attempts=5, base_s=8.0, cap_s=60.0)
    rng = random.Random(1)
    waits = {policy.delay(2, rng.random()) for _ in range(100)}
    assert len(waits) == 100  # no two deliveries come back in lock-step


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"attempts": 0}, "attempts"),
        ({"base_s": 0.0}, "base_s"),
        ({"base_s": 5.0, "cap_s": 1.0}, "base_s"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_draw_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="draw"):
        RetryPolicy().delay(1, 1.0)
