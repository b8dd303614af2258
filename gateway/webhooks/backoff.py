"""When a failed delivery is tried again (pure): exponential backoff with "equal jitter"
(M. Brooker, *Exponential Backoff And Jitter*, AWS Architecture Blog, 2015): after the n-th
failed attempt the wait is d/2 + U·d/2 with d = min(cap, base·2^(n−1)) and U uniform in
[0, 1), so retries of many deliveries spread out but none comes back sooner than half its
step. After ``attempts`` attempts the delivery is given up (marked failed in its log)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.errors import ConfigError

RETRY_CAP_S: Final = 3600.0  # no wait between two attempts is longer


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # in all, the first included
    base_s: float = 10.0
    cap_s: float = RETRY_CAP_S

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("attempts", f"expected at least 1, got {self.attempts}")
        if not 0 < self.base_s <= self.cap_s:
            raise ConfigError(
                "base_s", f"expected 0 < base_s <= cap_s ({self.cap_s:g}), got {self.base_s:g}"
            )

    def step(self, failed: int) -> float:
        """d: the backoff step after the ``failed``-th failed attempt (1-based), before jitter."""
        return min(self.cap_s, self.base_s * 2.0 ** (failed - 1))

    def delay(self, failed: int, draw: float) -> float | None:
        """Seconds until the next attempt after the ``failed``-th failed one, with ``draw`` a
        uniform number in [0, 1) (the caller's random generator); None: give up."""
        if failed >= self.attempts:
            return None
        if not 0.0 <= draw < 1.0:
            raise ValueError(f"draw: expected a number in [0, 1), got {draw!r}")
        step = self.step(failed)
        return step / 2 + draw * step / 2
