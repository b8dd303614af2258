"""What every test returns: an estimate, an interval and a p-value for one effect."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# "two-sided": H0 effect == null. "greater": H0 effect <= null (shows the treatment is
# above null). "less": H0 effect >= null (shows the treatment is below null).
Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class Inference:
    method: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    null: float = 0.0
    alternative: Alternative = "two-sided"

    @property
    def rejects(self) -> bool:
        """The interval excludes the null on the tested side."""
        if self.alternative == "greater":
            return self.ci_low > self.null
        if self.alternative == "less":
            return self.ci_high < self.null
        return self.ci_low > self.null or self.ci_high < self.null


def uninformative(
    method: str, estimate: float, null: float = 0.0, alternative: Alternative = "two-sided"
) -> Inference:
    """The result when the effect has no usable variance yet."""
    return Inference(method, estimate, -math.inf, math.inf, 1.0, null, alternative)
