"""Pure merge/split of ranking requests."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.inference.batch import RankInput, merge, split


def _input(query: list[int], items: list[int]) -> RankInput:
    return RankInput(np.asarray(query, dtype=np.int64), np.asarray(items, dtype=np.int64))


def test_merge_repeats_each_query_per_candidate_and_split_inverts_it() -> None:
    a, b = _input([1, 2, 0], [10, 11]), _input([3, 0, 0], [20, 21, 22])
    batch = merge([a, b])
    assert batch.offsets == (0, 2, 5)
    assert batch.query_tokens.tolist() == [[1, 2, 0]] * 2 + [[3, 0, 0]] * 3
    assert batch.item_index.tolist() == [10, 11, 20, 21, 22]
    parts = split(np.arange(5, dtype=np.float32), batch.offsets)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4]]


def test_split_refuses_a_wrong_number_of_scores() -> None:
    with pytest.raises(ValueError, match="4 scores for 5 pairs"):
        split(np.zeros(4, dtype=np.float32), (0, 2, 5))


def test_merge_needs_a_request() -> None:
    with pytest.raises(ValueError):
        merge([])
