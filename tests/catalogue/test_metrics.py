from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from gateway.catalogue.metrics import BY_NAME, METRICS, estimate, estimates
from gateway.catalogue.quantities import CATALOGUE
from gateway.config.model import Metric as ConfigMetric

USERS = [
    {"searches": 4, "clicks": 3, "clicked_searches": 2, "converters": 1, "revenue_cents": 1250},
    {"searches": 2, "clicks": 0, "clicked_searches": 0, "converters": 0, "revenue_cents": 0},
    {"searches": 5, "clicks": 1, "clicked_searches": 1, "converters": 1, "revenue_cents": 4000},
]


def _ratio_golden(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Σx/Σy and its delta-method variance (Deng, Knoblich & Lu 2018, eq. (4)), from the raw
    per-user values with numpy."""
    xa, ya = np.array(x, float), np.array(y, float)
    n = len(xa)
    r = xa.mean() / ya.mean()
    cov = np.cov(xa, ya, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * ya.mean() ** 2)
    return r, var


def test_estimates_match_the_raw_values() -> None:
    sums = CATALOGUE.expected_sums(USERS)
    got = estimates(sums)
    conv = np.array([u["converters"] for u in USERS], float)
    assert got["purchase_conversion"].mean == pytest.approx(conv.mean())
    assert got["purchase_conversion"].variance == pytest.approx(conv.var(ddof=1) / 3)
    revenue = np.array([u["revenue_cents"] / 100 for u in USERS])
    assert got["revenue_per_user"].mean == pytest.approx(revenue.mean())
    assert got["revenue_per_user"].variance == pytest.approx(revenue.var(ddof=1) / 3)
    clicks = [u["clicks"] for u in USERS]
    searches = [u["searches"] for u in USERS]
    r, var = _ratio_golden(clicks, searches)
    assert got["click_through_rate"].mean == pytest.approx(r)
    assert got["click_through_rate"].variance == pytest.approx(var)
    r, var = _ratio_golden([u["revenue_cents"] / 100 for u in USERS], searches)
    assert got["revenue_per_search"].mean == pytest.approx(r)
    assert got["revenue_per_search"].variance == pytest.approx(var)
    clicked = [u["clicked_searches"] for u in USERS]
    r, var = _ratio_golden(clicked, searches)
    assert got["abandonment_rate"].mean == pytest.approx(1 - r)  # 1 − 3/11
    assert got["abandonment_rate"].variance == pytest.approx(var)
    assert got["clicked_search_rate"].mean + got["abandonment_rate"].mean == pytest.approx(1)


def test_an_arm_without_users_has_no_estimate() -> None:
    for e in estimates({}).values():
        assert e.n == 0 and math.isinf(e.variance)


def test_every_metric_reads_kept_sums_and_every_decidable_metric_is_in_the_catalogue() -> None:
    from typing import get_args

    for m in METRICS:
        assert m.x in CATALOGUE.by_name and (m.y is None or m.y in CATALOGUE.by_name), m.name
        if m.covariate is not None:
            assert m.covariate in CATALOGUE.by_name
        estimate(m, CATALOGUE.expected_sums(USERS))  # its crosses are kept
    assert set(get_args(ConfigMetric)) <= set(BY_NAME)


def test_lower_is_better_is_said() -> None:
    assert BY_NAME["abandonment_rate"].direction == "lower"
    assert BY_NAME["purchase_conversion"].direction == "higher"
