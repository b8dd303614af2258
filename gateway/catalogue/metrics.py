"""The metrics an experiment is measured and decided on, each from the arm's sums
(:mod:`.quantities`): its estimator, direction, unit and covariate.

- ``share`` / ``mean``: a per-user mean (conversion, revenue per user): variance s²/n from
  the integer sums (:class:`stats.sufficient.MeanStats`);
- ``ratio``: Σx / Σy over users (clicks per search), randomised by user and measured per
  search or click: the delta method (Deng, Knoblich & Lu, KDD 2018, eq. (4));
- ``complement``: one minus a ratio (abandonment = 1 − clicked searches per search), the same
  variance;
- a covariate: CUPED (Deng, Xu, Kohavi & Walker, WSDM 2013) with the user's pre-exposure
  value of ``covariate`` (gateway.worker.evaluate.cuped_primary).

``direction`` says which way is better; ``unit`` how a value reads (a share as a percentage,
currency with two decimals, a count or a score per search or click).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from gateway.catalogue.quantities import CATALOGUE, USERS, Catalogue
from stats.effects import ArmEstimate, mean_estimate, ratio_estimate
from stats.sufficient import MeanStats, PairStats

Estimator = Literal["share", "mean", "ratio", "complement"]
Direction = Literal["higher", "lower"]
Unit = Literal["share", "currency", "count", "score"]
Per = Literal["user", "search", "click", "cart"]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    estimator: Estimator
    x: str  # the quantity measured
    y: str | None = None  # a ratio's denominator quantity (per search: searches)
    scale: float = 1.0  # the quantity's units per the metric's (cents per currency unit)
    direction: Direction = "higher"
    unit: Unit = "count"
    per: Per = "user"
    covariate: str | None = None  # CUPED: the quantity kept from before exposure
    doc: str = ""


METRICS: Final[tuple[Metric, ...]] = (
    Metric(
        "purchase_conversion", "purchase conversion", "share", "converters", unit="share",
        covariate="pre_purchases", doc="share of users who bought",
    ),
    Metric(
        "revenue_per_user", "revenue per user", "mean", "revenue_cents", scale=100.0,
        unit="currency", covariate="pre_revenue", doc="what a user spent (winsorised)",
    ),
    Metric(
        "click_through_rate", "clicks per search", "ratio", "clicks", "searches", per="search",
        doc="clicks per search",
    ),
    Metric(
        "clicked_search_rate", "searches with a click", "ratio", "clicked_searches", "searches",
        unit="share", per="search", doc="one minus abandonment",
    ),
    Metric(
        "abandonment_rate", "abandoned searches", "complement", "clicked_searches", "searches",
        unit="share", per="search", direction="lower", doc="searches with no click",
    ),
    Metric(
        "carts_per_search", "add-to-carts per search", "ratio", "carts", "searches",
        per="search",
    ),
    Metric(
        "revenue_per_search", "revenue per search", "ratio", "revenue_cents", "searches",
        scale=100.0, unit="currency", per="search",
    ),
    Metric(
        "mrr_first_click", "MRR of the first click", "ratio", "rr", "searches", scale=1000.0,
        unit="score", per="search", doc="mean reciprocal rank of each search's first click",
    ),
    Metric(
        "dcg_at_10", "click DCG@10", "ratio", "dcg", "searches", scale=1000.0, unit="score",
        per="search",
    ),
    Metric(
        "mrr_clicks", "MRR of clicks", "ratio", "rrc", "clicks", scale=1000.0, unit="score",
        per="click", doc="where the clicks land: mean 1/(position+1) over clicks",
    ),
    Metric(
        "carts_per_click", "add-to-carts per click", "ratio", "carts", "clicks", per="click",
        doc="the funnel's second step",
    ),
    Metric(
        "purchases_per_cart", "purchases per add-to-cart", "ratio", "purchases", "carts",
        per="cart", doc="the funnel's third step",
    ),
)  # fmt: skip
# The search funnel: search -> click -> add-to-cart -> purchase, one ratio metric per step
# (each a conversion of the step before, per user randomised: the delta method).
FUNNEL: Final = (
    ("search → click", "clicked_search_rate"),
    ("click → add-to-cart", "carts_per_click"),
    ("add-to-cart → purchase", "purchases_per_cart"),
)
BY_NAME: Final = {m.name: m for m in METRICS}


def pair_stats(
    sums: Mapping[str, int], x: str, y: str, catalogue: Catalogue = CATALOGUE
) -> PairStats:
    """The per-user moments of quantities x and y from an arm's sums (their cross is kept)."""
    cross = next((c.sum_name for c in catalogue.crosses if {c.x, c.y} == {x, y}), None)
    if cross is None:
        raise ValueError(f"no cross of {x} and {y} is kept")

    def square(q: str) -> int:
        sq = catalogue.by_name[q].square
        return int(sums.get(sq or q, 0))  # a binary value is its own square

    return PairStats.from_int_sums(
        int(sums.get(USERS, 0)),
        int(sums.get(x, 0)),
        int(sums.get(y, 0)),
        square(x),
        square(y),
        int(sums.get(cross, 0)),
    )


def mean_stats(sums: Mapping[str, int], x: str, catalogue: Catalogue = CATALOGUE) -> MeanStats:
    q = catalogue.by_name[x]
    total = int(sums.get(x, 0))
    square = int(sums.get(q.square, 0)) if q.square else total
    return MeanStats.from_int_sums(int(sums.get(USERS, 0)), total, square)


def estimate(
    metric: Metric, sums: Mapping[str, int], catalogue: Catalogue = CATALOGUE
) -> ArmEstimate:
    """One arm's estimate of ``metric`` (its mean and the variance of that mean), in the
    metric's units."""
    if metric.y is None:
        e = mean_estimate(mean_stats(sums, metric.x, catalogue))
    else:
        e = ratio_estimate(pair_stats(sums, metric.x, metric.y, catalogue))
    mean, variance = e.mean / metric.scale, e.variance / metric.scale**2
    if metric.estimator == "complement":
        mean = 1.0 - mean
    return ArmEstimate(e.n, mean, variance)


def estimates(sums: Mapping[str, int]) -> dict[str, ArmEstimate]:
    """Every metric's estimate for one arm."""
    return {m.name: estimate(m, sums) for m in METRICS}


def denominator(metric: Metric, sums: Mapping[str, int]) -> int:
    """What a value is a mean over: users, or the arm's searches or clicks."""
    if metric.y is None:
        return int(sums.get(USERS, 0))
    return int(sums.get(metric.y, 0))
