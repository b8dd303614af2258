"""Operational guardrails and the latency histogram, pure: golden percentiles, each breach."""

from __future__ import annotations

import pytest

from gateway.ops.guardrails import ArmOps, OpsLimits, breaches, parse_ops
from gateway.ops.histogram import EDGES_MS, bucket, percentile


def test_buckets_and_percentiles() -> None:
    assert bucket(0.05) == 0 and bucket(0.1) == 0 and bucket(0.11) == 1
    assert EDGES_MS[bucket(3.0)] >= 3.0 > EDGES_MS[bucket(3.0) - 1]
    counts = {bucket(1.0): 98, bucket(50.0): 2}
    assert percentile(counts, 0.5) == EDGES_MS[bucket(1.0)]
    assert percentile(counts, 0.99) == EDGES_MS[bucket(50.0)]
    assert percentile({}, 0.99) is None
    # Counts from two processes add up to the counts of one.
    assert percentile([0, 3, 1], 0.75) == EDGES_MS[1] and percentile([0, 3, 1], 0.76) == EDGES_MS[2]


def test_parse_the_redis_hash() -> None:
    ops = parse_ops(
        {"control:requests": 10, "control:errors": 1, "control:lat:12": 9, "b:requests": 3}
    )
    assert ops["control"] == ArmOps(10, 1, {12: 9}) and ops["b"].requests == 3


LIMITS = OpsLimits(max_error_rate=0.02, max_latency_ratio=3.0, min_requests=50)


def _arm(requests: int, errors: int = 0, ms: float = 2.0) -> ArmOps:
    return ArmOps(requests, errors, {bucket(ms): requests - errors})


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (_arm(100, errors=10), "candidate fails 10 of 100 scorings (10.0%, limit 2.0%)"),
        (
            ArmOps(100, 10, {}, missing=7),
            "fails 10 of 100 scorings (10.0%, limit 2.0%; 7 of them for features the "
            "searches lacked)",
        ),
        (_arm(1000, ms=20.0), "ratio 9.5, limit 3"),
        (_arm(500, ms=20.0), None),  # too few scorings for a p99 yet
        (_arm(100, errors=1), None),  # 1 %: within the limit
        (_arm(40, errors=40), None),  # too few scorings to judge yet
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
