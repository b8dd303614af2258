"""The holdout's report as typed records: what the worker computes each pass
(:mod:`gateway.worker.holdout`) and ``GET /v1/holdout`` answers.

The latest report is kept in the decisions hash (``Keys.decisions``) under the holdout's stats
id, beside each experiment phase's latest evaluation: a holdout's stats id holds a '~' that no
experiment key does, so the two never meet.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct
from redis.asyncio import Redis

from gateway.catalogue.metrics import Direction, Per, Unit
from gateway.keys import Keys

HoldoutArmName = Literal["holdout", "rest"]


class HoldoutArmValue(Struct, frozen=True):
    """One arm's estimate of a metric: the rate or mean, its units and its standard error
    (null while it has fewer than two units)."""

    variant: HoldoutArmName
    value: float | None
    n: int
    std_error: float | None


class HoldoutLift(Struct, frozen=True):
    """The rest over the holdout: relative (rest / holdout − 1), or absolute when the holdout's
    value is 0, with its always-valid interval (null bounds: no variance yet)."""

    scale: Literal["relative", "absolute"]
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    significant: bool


class HoldoutMetric(Struct, frozen=True):
    """One metric of the catalogue (:mod:`gateway.catalogue.metrics`): its arms and the lift."""

    metric: str
    arms: list[HoldoutArmValue]
    lift: HoldoutLift
    label: str = ""
    direction: Annotated[Direction, Meta(description="which way is better: read the lift so")] = (
        "higher"
    )
    unit: Unit = "count"
    per: Per = "user"


class Promotion(Struct, frozen=True):
    """One production move since the holdout began (``GET /v1/production``'s history)."""

    to: str | None
    ts: float
    actor: str
    reason: str
    experiment: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")


class HoldoutReport(Struct, frozen=True):
    """The cumulative lift of every production move since the holdout began: each metric's
    value in both arms and the rest's lift over the holdout, valid at every look (a confidence
    sequence: Waudby-Smith et al. 2024, :mod:`stats.confidence_sequence`)."""

    stats_id: str
    evaluated_at: float
    since: Annotated[float, Meta(description="when the holdout began (unix s)")]
    version: Annotated[str, Meta(description="the holdout's frozen baseline")]
    current: Annotated[str | None, Meta(description="production when this was computed")]
    users: dict[str, int]
    method: str
    alpha: float
    tuning_units: int
    primary_metric: str
    metrics: list[HoldoutMetric]
    promotions: list[Promotion]
    summary: Annotated[str, Meta(description="one line: the primary metric's cumulative lift")]


_DECODER = msgspec.json.Decoder(HoldoutReport)


async def store_report(redis: Redis, keys: Keys, report: HoldoutReport) -> None:
    await redis.hset(keys.decisions, report.stats_id, msgspec.json.encode(report))


async def read_report(redis: Redis, keys: Keys, stats_id: str) -> HoldoutReport | None:
    raw = await redis.hget(keys.decisions, stats_id)
    return None if raw is None else _DECODER.decode(raw)
