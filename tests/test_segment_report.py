"""Segments and differential-impact alerts from arms' sums (gateway.segment_report)."""

from __future__ import annotations

import numpy as np

from gateway.catalogue.quantities import CATALOGUE
from gateway.catalogue.sums import VariantSums
from gateway.segment_report import segment_results

VARIANTS = [("control", 0.5), ("candidate", 0.5)]


def _sums(rng: np.random.Generator, n: int, buy: float) -> VariantSums:
    converted = rng.random(n) < buy
    users = [{"converters": int(c), "searches": 1} for c in converted]
    return VariantSums(CATALOGUE.expected_sums(users))


def _arms(
    rng: np.random.Generator, mobile_lift: float, desktop_lift: float, n: int = 4000
) -> tuple[dict[str, VariantSums], dict[str, dict[tuple[str, str], VariantSums]]]:
    segments: dict[str, dict[tuple[str, str], VariantSums]] = {}
    totals: dict[str, VariantSums] = {}
    for variant, _ in VARIANTS:
        treated = variant == "candidate"
        mobile = _sums(rng, n, 0.3 * (1 + (mobile_lift if treated else 0)))
        desktop = _sums(rng, n, 0.3 * (1 + (desktop_lift if treated else 0)))
        segments[variant] = {("device", "mobile"): mobile, ("device", "desktop"): desktop}
        totals[variant] = mobile + desktop
    return totals, segments


def test_a_candidate_that_loses_on_mobile_raises_a_strong_alert() -> None:
    totals, segments = _arms(np.random.default_rng(1), -0.2, 0.4)
    results, alerts = segment_results(
        VARIANTS, totals, segments, "purchase_conversion", 0.05, 16_000.0, 100
    )
    by_value = {r.value: r for r in results}
    mobile = by_value["mobile"]
    assert mobile.users == {"control": 4000, "candidate": 4000}
    assert mobile.lifts[0].lift is not None and mobile.lifts[0].lift < -0.1
    assert mobile.rest_lifts[0].lift is not None and mobile.rest_lifts[0].lift > 0.3
    assert mobile.differs_p["candidate"] is not None and mobile.differs_p["candidate"] < 1e-4
    kinds = {(a.kind, a.value, a.level) for a in alerts}
    assert ("segment", "mobile", "strong") in kinds
    assert all(a.blocks is False for a in alerts)  # never acted on
    assert "lift -" in next(a.message for a in alerts if a.value == "mobile")


def test_alike_segments_raise_no_alert_and_too_few_users_are_not_tested() -> None:
    totals, segments = _arms(np.random.default_rng(2), 0.1, 0.1)
    _, alerts = segment_results(VARIANTS, totals, segments, "purchase_conversion", 0.05, None, 100)
    assert alerts == ()
    small, few = _arms(np.random.default_rng(3), -0.5, 0.5, n=50)
    results, alerts = segment_results(VARIANTS, small, few, "purchase_conversion", 0.05, None, 100)
    assert all(p is None for r in results for p in r.differs_p.values()) and alerts == ()


def test_a_segment_whose_users_are_out_of_ratio_is_flagged() -> None:
    rng = np.random.default_rng(4)
    totals, segments = _arms(rng, 0.0, 0.0)
    segments["candidate"][("device", "mobile")] = _sums(rng, 3000, 0.3)
    totals["candidate"] = (
        segments["candidate"][("device", "mobile")] + segments["candidate"][("device", "desktop")]
    )
    _, alerts = segment_results(VARIANTS, totals, segments, "purchase_conversion", 0.05, None, 100)
    assert [a.kind for a in alerts if a.value == "mobile"] == ["segment_srm"]


def test_an_alerts_threshold_does_not_depend_on_the_dimension_shown() -> None:
    totals, segments = _arms(np.random.default_rng(1), -0.2, 0.4)
    for arm in segments.values():  # a second dimension with two more segments
        arm[("shopper", "new")] = arm[("device", "mobile")]
        arm[("shopper", "returning")] = arm[("device", "desktop")]
    _, every = segment_results(VARIANTS, totals, segments, "purchase_conversion", 0.05, None, 100)
    _, shown = segment_results(
        VARIANTS, totals, segments, "purchase_conversion", 0.05, None, 100, "device"
    )
    mobile = [a for a in every if a.value == "mobile"]
    assert mobile and [a.threshold for a in shown if a.value == "mobile"] == [
        a.threshold for a in mobile
    ]
    assert all(a.dimension == "device" for a in shown)
