"""Team-draft interleaving and multileaving: the invariants on generated rankings, and pages
worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.interleave.team_draft import credit, outcome, team_draft


@st.composite
def rankings(draw: st.DrawFn) -> tuple[list[list[int]], int, int]:
    items = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True))
    k = draw(st.integers(2, 5))
    perms = [draw(st.permutations(items)) for _ in range(k)]
    return [list(p) for p in perms], draw(st.integers(0, 60)), draw(st.integers(0, 2**32))


@settings(max_examples=300, deadline=None)
@given(rankings())
def test_invariants(case: tuple[list[list[int]], int, int]) -> None:
    ranks, length, seed = case
    merged = team_draft(ranks, length, seed)
    n = len(ranks[0])
    assert len(merged.items) == min(length, n)
    assert len(set(merged.items)) == len(merged.items)  # no duplicates
    assert set(merged.items) <= set(ranks[0])
    counts = [0] * len(ranks)
    for team in merged.teams:
        counts[team] += 1
        assert max(counts) - min(counts) <= 1  # every prefix balanced within one item
    for r, ranking in enumerate(ranks):
        mine = [item for item, team in zip(merged.items, merged.teams, strict=True) if team == r]
        position = {item: i for i, item in enumerate(ranking)}
        assert mine == sorted(mine, key=position.__getitem__)  # in its ranker's order
    assert team_draft(ranks, length, seed) == merged  # the seed re-derives the page


def test_two_rankers_by_hand() -> None:
    # A = 1 2 3, B = 3 2 1. Whoever picks first takes its top; the other then its top; the
    # third slot is 2 whoever picks it, so it is not competitive.
    pages = {team_draft([[1, 2, 3], [3, 2, 1]], 3, seed).items for seed in range(50)}
    assert pages == {(1, 3, 2), (3, 1, 2)}
    for seed in range(50):
        merged = team_draft([[1, 2, 3], [3, 2, 1]], 3, seed)
        assert merged.competitive == (True, True, False)
        assert merged.teams[0] != merged.teams[1]


def test_identical_rankers_agree_everywhere() -> None:
    merged = team_draft([[5, 6, 7, 8], [5, 6, 7, 8]], 4, seed=7)
    assert merged.items == (5, 6, 7, 8)
    assert not any(merged.competitive)
    assert sorted(merged.teams) == [0, 0, 1, 1]


def test_three_rankers_by_hand() -> None:
    # Each ranker's top differs: the first round places 1, 2 and 3 in some order, one each;
    # then every ranker's next is 4: slot four is not competitive.
    ranks = [[1, 4, 2, 3], [2, 4, 1, 3], [3, 4, 1, 2]]
    for seed in range(30):
        merged = team_draft(ranks, 4, seed)
        assert set(merged.items[:3]) == {1, 2, 3} and merged.items[3] == 4
        assert sorted(merged.teams[:3]) == [0, 1, 2]
        assert merged.competitive == (True, True, True, False)
        for slot, team in enumerate(merged.teams[:3]):
            assert merged.items[slot] == ranks[team][0]


def test_the_first_pick_is_a_fair_coin() -> None:
    firsts = [team_draft([[1, 2], [2, 1]], 1, seed).teams[0] for seed in range(2000)]
    assert 900 < sum(firsts) < 1100


def test_credit_and_outcome() -> None:
    teams = (0, 1, 1, 0)
    clicks = credit(teams, [1, 2, 9], rankers=2)  # slot 9 is not on the page
    assert clicks == [0, 2]
    assert outcome(clicks, 0, 1) == -1 and outcome(clicks, 1, 0) == 1
    assert outcome([1, 1], 0, 1) == 0 and outcome([0, 0], 0, 1) == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        team_draft([[1, 2]], 2, 0)
    with pytest.raises(ValueError):
        team_draft([[1, 2], [2, 1]], -1, 0)
