"""Every GrowthBook hashing/bucketing vector, from the copy in tests/router/data (see its README)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_experiment
from gateway.errors import ConfigError
from gateway.router.bucketing import bucket_ranges, choose_variant, equal_weights, in_namespace
from gateway.router.hashing import unit_hash

CASES_PATH = Path(__file__).parent / "data" / "growthbook_hash_cases.json"
CASES: dict[str, Any] = json.loads(CASES_PATH.read_text())


def _floor8(x: float) -> float:
    return math.floor(x * 1e8) / 1e8


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert unit_hash(seed, value, version) == expected


def _experiment(n: int, coverage: float, weights: list[float] | None) -> dict[str, Any]:
    weights = weights if weights is not None else equal_weights(n)
    return {
        "key": "conformance",
        "coverage": coverage,
        "variants": [
            {"name": f"v{i}", "model_version": "m", "weight": w} for i, w in enumerate(weights)
        ]
        # A weights list shorter than the variants leaves those variants without a weight.
        + [{"name": f"extra{i}", "model_version": "m"} for i in range(n - len(weights))],
    }


def _is_repaired_by_growthbook(n: int, coverage: float, weights: list[float] | None) -> bool:
    if not 0 <= coverage <= 1:
        return True
    if weights is None:
        return False
    return len(weights) != n or abs(sum(weights) - 1) > 0.01


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_bucket_range(name: str, args: list[Any], expected: list[list[float]]) -> None:
    n, coverage, weights = args
    if _is_repaired_by_growthbook(n, coverage, weights):
        # GrowthBook silently repairs these; abgate's validation names the problem instead.
        with pytest.raises(ConfigError) as info:
            parse_experiment(_experiment(n, coverage, weights), "experiments[0]")
        assert "conformance" in str(info.value)
        return
    experiment = parse_experiment(_experiment(n, coverage, weights), "experiments[0]")
    ranges = bucket_ranges([v.weight for v in experiment.variants], experiment.coverage)
    got = [[_floor8(a), _floor8(b)] for a, b in ranges]
    want = [[_floor8(a), _floor8(b)] for a, b in expected]
    assert got == want


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_choose_variation(name: str, n: float, ranges: list[list[float]], expected: int) -> None:
    assert choose_variant(n, [(a, b) for a, b in ranges]) == expected


@pytest.mark.parametrize(("name", "unit_id", "namespace", "expected"), CASES["inNamespace"])
def test_in_namespace(name: str, unit_id: str, namespace: list[Any], expected: bool) -> None:
    namespace_id, start, end = namespace
    assert in_namespace(unit_id, namespace_id, start, end) is expected


@pytest.mark.parametrize(("n", "expected"), CASES["getEqualWeights"])
def test_equal_weights(n: int, expected: list[float]) -> None:
    assert [_floor8(w) for w in equal_weights(n)] == [_floor8(w) for w in expected]


def test_every_section_is_exercised() -> None:
    sections = {k for k in CASES if not k.startswith("_")}
    assert sections == {
        "hash",
        "getBucketRange",
        "chooseVariation",
        "inNamespace",
        "getEqualWeights",
    }


def test_hash_follows_js_utf16_code_units_above_bmp() -> None:
    # U+1F600 is two UTF-16 code units in JS; hashing code points would differ.
    from gateway.router.hashing import fnv1a32

    h = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):
        h = ((h ^ unit) * 16777619) & 0xFFFFFFFF
    assert fnv1a32("\U0001f600") == h
