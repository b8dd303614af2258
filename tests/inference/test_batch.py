"""Pure merge/split of ranking requests."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.inference.batch import RankInput, merge, split


def _input(query: list[int], items: list[int], features: list[list[float]]) -> RankInput:
    return RankInput(
        {"query_tokens": np.asarray(query, dtype=np.int64)},
        {
            "item_index": np.asarray(items, dtype=np.int64),
            "features": np.asarray(features, dtype=np.float32).reshape(len(items), 2),
        },
        len(items),
    )


def test_merge_repeats_per_request_rows_stacks_per_pair_rows_and_split_inverts_it() -> None:
    a = _input([1, 2, 0], [10, 11], [[0, 1], [2, 3]])
    b = _input([3, 0, 0], [20, 21, 22], [[4, 5], [6, 7], [8, 9]])
    batch = merge([a, b])
    assert batch.offsets == (0, 2, 5) and batch.pairs == 5
    assert batch.inputs["query_tokens"].tolist() == [[1, 2, 0]] * 2 + [[3, 0, 0]] * 3
    assert batch.inputs["item_index"].tolist() == [10, 11, 20, 21, 22]
    assert batch.inputs["features"][:, 0].tolist() == [0, 2, 4, 6, 8]
    assert batch.inputs["features"].dtype == np.float32
    parts = split(np.arange(5, dtype=np.float32), batch.offsets)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4]]


def test_split_refuses_a_wrong_number_of_scores() -> None:
    with pytest.raises(ValueError, match="4 scores for 5 pairs"):
        split(np.zeros(4, dtype=np.float32), (0, 2, 5))


def test_merge_needs_a_request() -> None:
    with pytest.raises(ValueError):
        merge([])
