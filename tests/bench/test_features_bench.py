"""The named-features benchmark at a tiny size: its three forms of a search are the same
features, and its whole run (seeded gateways, load, table) works (figures are the benchmark's,
not asserted here)."""

from __future__ import annotations

import numpy as np
import orjson

from bench.features import FORMS, NAMED_COLUMNS, NAMED_OBJECTS, UNNAMED, feature_names, run
from bench.features import searches as search_forms
from gateway.schema import parse_search


def test_the_three_forms_carry_the_same_features() -> None:
    for candidates, width in ((4, 8), (3, 136)):
        forms = search_forms(candidates, width, count=2)
        for n in range(2):
            tables = {f: parse_search(orjson.dumps(forms[f][n])).features for f in FORMS}
            unnamed, objects, columns = (
                tables[UNNAMED],
                tables[NAMED_OBJECTS],
                tables[NAMED_COLUMNS],
            )
            assert unnamed is not None and objects is not None and columns is not None
            assert unnamed.names is None and unnamed.values.shape == (candidates, width)
            names = feature_names(width)
            for named in (objects, columns):
                np.testing.assert_array_equal(named.select(names, "v"), unnamed.values)
            ids = {f: parse_search(orjson.dumps(forms[f][n])).candidates for f in FORMS}
            assert ids[UNNAMED] == ids[NAMED_OBJECTS] == ids[NAMED_COLUMNS]


def test_the_benchmark_runs_at_a_tiny_size() -> None:
    lines = run([(5, 8)], seconds=0.3, rounds=1, connections=2, repeat=1)
    rows = [line for line in lines if line.startswith("| 5 × 8 |")]
    assert [row.split(" | ")[1] for row in rows] == list(FORMS)
    verdict = next(line for line in lines if line.startswith("Named features against"))
    assert "5 × 8, named per candidate: **" in verdict and "5 × 8, named columns: **" in verdict
