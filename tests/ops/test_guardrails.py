"""Operational guardrails and the latency histogram, pure: golden percentiles, the grid's
field names, each breach, and the figures the evaluation record carries."""

from __future__ import annotations

import pytest

from gateway.ops.guardrails import (
    ArmOps,
    OpsLimits,
    breaches,
    latency_p_value,
    latency_test,
    parse_ops,
    review,
)
from gateway.ops.histogram import (
    EDGES_MS,
    FIELD,
    bucket,
    field_bucket,
    latency_field,
    percentile,
)


def test_buckets_and_percentiles() -> None:
    assert bucket(0.05) == 0 and bucket(0.1) == 0 and bucket(0.101) == 1
    assert EDGES_MS[bucket(3.0)] >= 3.0 > EDGES_MS[bucket(3.0) - 1]
    # 16 buckets to a doubling: each edge 2**(1/16) ≈ 1.044 times the one below.
    assert EDGES_MS[16] == pytest.approx(0.2) and EDGES_MS[17] / EDGES_MS[16] == pytest.approx(
        2 ** (1 / 16), rel=1e-4
    )
    counts = {bucket(1.0): 98, bucket(50.0): 2}
    assert percentile(counts, 0.5) == EDGES_MS[bucket(1.0)]
    assert percentile(counts, 0.99) == EDGES_MS[bucket(50.0)]
    assert percentile({}, 0.99) is None
    # Counts from two processes add up to the counts of one.
    assert percentile([0, 3, 1], 0.75) == EDGES_MS[1] and percentile([0, 3, 1], 0.76) == EDGES_MS[2]


def test_fields_name_their_grid() -> None:
    assert latency_field(3.0) == f"{FIELD}:{bucket(3.0)}" == f"lat16:{bucket(3.0)}"
    assert field_bucket(latency_field(3.0)) == bucket(3.0)
    # Another grid's counts (the 2**(1/4) one's "lat:") and other counters are not buckets.
    assert field_bucket("lat:12") is None and field_bucket("requests") is None
    assert field_bucket("lat16:x") is None


def test_parse_the_redis_hash() -> None:
    ops = parse_ops(
        {
            "control:requests": 10,
            "control:errors": 1,
            "control:lat16:12": 9,
            "control:lat:3": 5,  # a gateway of the older grid: left out, not misread
            "b:requests": 3,
        }
    )
    assert ops["control"] == ArmOps(10, 1, {12: 9}) and ops["b"].requests == 3


LIMITS = OpsLimits(max_error_rate=0.02, max_latency_ratio=3.0, min_requests=50, alpha=0.05)


def _arm(requests: int, errors: int = 0, ms: float = 2.0, spread: bool = True) -> ArmOps:
    """``requests`` scorings around ``ms``: spread over five buckets either side, as real
    scoring times are (or all in one bucket)."""
    scored = requests - errors
    if not spread:
        return ArmOps(requests, errors, {bucket(ms): scored})
    centre, counts = bucket(ms), {}
    for offset in range(-5, 6):
        counts[centre + offset] = scored // 11
    counts[centre] += scored - sum(counts.values())
    return ArmOps(requests, errors, counts)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (_arm(100, errors=10), "candidate fails 10 of 100 scorings (10.0%, limit 2.0%)"),
        (
            ArmOps(100, 10, {}, missing=7),
            "fails 10 of 100 scorings (10.0%, limit 2.0%; 7 of them for features the "
            "searches lacked)",
        ),
        (_arm(1000, ms=20.0), "candidate scores slower than control: p99 "),
        # Always valid: no minimum of scorings is needed to see a tenfold p99.
        (_arm(300, ms=20.0), "(α = 0.05) above the limit 3"),
        # Twenty do when every one is slower than the control's p99 could be.
        (_arm(20, ms=20.0), "interval [7.66, ∞]"),
        (_arm(1000, ms=5.0), None),  # 2.5 times the control's: within the margin of 3
        (_arm(100, errors=1), None),  # 1 %: within the limit
        (_arm(40, errors=40), None),  # too few scorings to judge the error rate yet
    ],
)
def test_breaches(candidate: ArmOps, expected: str | None) -> None:
    found = breaches(
        "control", ["candidate"], {"control": _arm(1000), "candidate": candidate}, LIMITS
    )
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_a_p99_needs_hundreds_of_scorings_to_be_bounded() -> None:
    """The control's p99 has no upper bound until enough of its scorings lie below a value:
    until then no treatment can be shown to be slower than it, however slow."""
    for control in (_arm(100), _arm(300)):
        found = breaches(
            "control",
            ["candidate"],
            {"control": control, "candidate": _arm(5000, ms=200.0)},
            LIMITS,
        )
        assert found == []
    assert breaches(
        "control", ["candidate"], {"control": _arm(1000), "candidate": _arm(5000, ms=200.0)}, LIMITS
    )


def test_a_latency_breach_names_the_quantile_the_figures_and_the_interval() -> None:
    (reason,) = breaches(
        "control",
        ["candidate"],
        {
            "control": _arm(2000, ms=2.0, spread=False),
            "candidate": _arm(2000, ms=20.0, spread=False),
        },
        LIMITS,
    )
    low, high = (
        EDGES_MS[bucket(20.0) - 1] / EDGES_MS[bucket(2.0)],
        EDGES_MS[bucket(20.0)] / (EDGES_MS[bucket(2.0) - 1]),
    )
    assert reason.startswith(
        f"candidate scores slower than control: p99 {EDGES_MS[bucket(20.0)]:.3g} ms against "
        f"{EDGES_MS[bucket(2.0)]:.3g} ms, ratio "
    ), reason
    # Each arm's p99 is known to its bucket: the interval is the ratio of their far edges.
    assert f"always-valid interval [{low:.2f}, {high:.2f}] (α = 0.05) above the limit 3" in reason


def test_review_gives_every_arm_its_figures() -> None:
    ops = {"control": _arm(1000, errors=10), "b": _arm(1000, ms=20.0), "c": _arm(500, ms=2.0)}
    figures, found = review("control", ["b", "c"], ops, LIMITS)
    assert [f.variant for f in figures] == ["control", "b", "c"]
    control, b, c = figures
    assert (control.requests, control.errors, control.error_rate) == (1000, 10, 0.01)
    assert control.latency is None and control.p50_ms == EDGES_MS[bucket(2.0)]
    assert b.p99_ms is not None and b.p99_ms > 20.0
    assert b.latency is not None and b.latency.breached and b.latency.quantile == 0.99
    assert b.latency.ci_low > 3.0 and b.latency.margin == 3.0 and b.latency.p_value < 0.05
    assert c.latency is not None and not c.latency.breached
    assert c.latency.ci_low < 1.0 < (c.latency.ci_high or float("inf"))
    assert len(found) == 1 and found[0].startswith("b scores slower than control")
    # An arm with no scorings yet has figures too, unbounded.
    figures, _ = review("control", ["d"], {"control": _arm(100)}, LIMITS)
    d = figures[1]
    assert (d.requests, d.p99_ms, d.latency and d.latency.ci_high) == (0, None, None)


def test_the_p_value_alone_is_the_tests() -> None:
    for candidate in (_arm(1000, ms=20.0), _arm(1000, ms=2.2), _arm(30, ms=5.0)):
        test = latency_test(_arm(1000), candidate, LIMITS)
        assert latency_p_value(_arm(1000), candidate, LIMITS) == test.p_value
