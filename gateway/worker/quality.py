"""Pure: an experiment's quality checks beyond its sample ratio — were the arms alike before
exposure, and do every arm's events still arrive?

- Pre-exposure bias: the arms' users' purchases before their first exposure (CUPED's
  covariate, kept per arm) must not differ; a Welch z-test below p = 0.001 flags it, as
  GrowthBook flags a pre-experiment imbalance ("bias in pre-exposure"). Randomisation makes
  it a chance of one in a thousand per look when nothing is wrong, and a real imbalance (a
  bucketing bug, a bot) shows at once.
- Event health: each treatment's clicks per search against the control's. A treatment whose page stops sending events — a broken tracking
  snippet — reads like one whose shoppers do nothing, and on a metric that counts down
  (abandonment), like a winner. Below ``EVENT_RATIO`` of the control's rate, significantly
  (one-sided z, p < 0.001), it is flagged and its promotion waits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from scipy.stats import norm

from gateway.catalogue.metrics import BY_NAME, estimate, mean_stats
from gateway.catalogue.quantities import USERS
from gateway.catalogue.sums import EMPTY
from gateway.results import Alert
from stats.effects import mean_estimate

BIAS_P: Final = 0.001
EVENT_P: Final = 0.001
EVENT_RATIO: Final = 0.5  # a treatment's outcomes per search below half the control's
MIN_USERS: Final = 100


def _z_p(diff: float, variance: float) -> float:
    if not variance > 0:
        return 1.0
    return float(2 * norm.sf(abs(diff) / math.sqrt(variance)))


def pre_exposure_bias(
    names: Sequence[str], rows: Mapping[str, Mapping[str, int]]
) -> tuple[Alert, ...]:
    """An alert per treatment whose users bought before exposure unlike the control's."""
    control = names[0]
    c = mean_estimate(mean_stats(rows.get(control, EMPTY), "pre_purchases"))
    out = []
    for t in names[1:]:
        e = mean_estimate(mean_stats(rows.get(t, EMPTY), "pre_purchases"))
        if min(c.n, e.n) < MIN_USERS or not (
            math.isfinite(c.variance) and math.isfinite(e.variance)
        ):
            continue
        p = _z_p(e.mean - c.mean, c.variance + e.variance)
        if p < BIAS_P:
            out.append(
                Alert(
                    kind="pre_exposure_bias",
                    level="strong",
                    message=(
                        f"{t}'s users bought {e.mean:.3g} times each before their first "
                        f"exposure, {control}'s {c.mean:.3g} (p={p:.2g} < {BIAS_P}): the arms "
                        "differed before the experiment; check the assignment and bots"
                    ),
                    p_value=p,
                    threshold=BIAS_P,
                    variant=t,
                    metric="pre_purchases",
                )
            )
    return tuple(out)


def _clicks_per_search(row: Mapping[str, int]) -> tuple[float, float]:
    e = estimate(BY_NAME["click_through_rate"], row)
    return e.mean, e.variance


def event_health(names: Sequence[str], rows: Mapping[str, Mapping[str, int]]) -> tuple[Alert, ...]:
    """An alert (which blocks a promotion) per treatment whose events stopped arriving."""
    control = names[0]
    c_rate, c_var = _clicks_per_search(rows.get(control, EMPTY))
    out = []
    for t in names[1:]:
        rate, var = _clicks_per_search(rows.get(t, EMPTY))
        users = min(
            int(rows.get(control, EMPTY).get(USERS, 0)), int(rows.get(t, EMPTY).get(USERS, 0))
        )
        if users < MIN_USERS or not c_rate > 0 or not math.isfinite(rate):
            continue
        variance = (c_var if math.isfinite(c_var) else 0.0) + (var if math.isfinite(var) else 0.0)
        p = 1.0 if not variance > 0 else float(norm.sf((c_rate - rate) / math.sqrt(variance)))
        if rate < EVENT_RATIO * c_rate and p < EVENT_P:
            out.append(
                Alert(
                    kind="event_health",
                    level="strong",
                    message=(
                        f"{t} gets {rate:.3g} clicks per search, {control} "
                        f"{c_rate:.3g} (under half, p={p:.2g}): its page may have stopped "
                        "sending events, or it ranks far worse; its promotion waits until a "
                        "person looks (promote it by hand if the events are sound)"
                    ),
                    p_value=p,
                    threshold=EVENT_P,
                    variant=t,
                    blocks=True,
                )
            )
    return tuple(out)
