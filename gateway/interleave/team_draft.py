"""Team-draft interleaving and multileaving.

Team-draft interleaving: Radlinski, Kurup & Joachims, "How does clickthrough data reflect
retrieval quality?", CIKM 2008, §4 (Algorithm 2, "Team-Draft Interleaving"): like captains
picking teams, the ranker with fewer items on the page so far (a coin flip on a tie) adds its
highest-ranked item not yet on the page.

Team-draft multileaving: Schuth, Sietsma, Whiteson, Lefortier & de Rijke, "Multileaved
comparisons for fast online evaluation", CIKM 2014, §3.1 (Algorithm 1): the same draft over
any number of rankers; among the rankers with the fewest items so far, one chosen uniformly at
random picks next. With two rankers it is team-draft interleaving.

Invariants (tested): no item twice; every prefix of the page is balanced (team sizes differ
by at most one); each team's items appear in the order its ranker ranked them. The merge is
a function of the rankings and the seed: the seed is logged with the exposure, so any page
can be re-derived.

A slot is *competitive* when the rankers would not all have put the same item there (their
highest-ranked items not yet on the page differ): only there can a click tell them apart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Merged:
    items: tuple[int, ...]
    teams: tuple[int, ...]  # slot -> index of the ranker that placed its item
    competitive: tuple[bool, ...]  # slot -> the rankers disagreed there


def team_draft(rankings: Sequence[Sequence[int]], length: int, seed: int) -> Merged:
    """Merge ``rankings`` (each a ranking of the same candidates, best first) into a page of at
    most ``length`` items."""
    if len(rankings) < 2:
        raise ValueError(f"team draft needs at least two rankings, got {len(rankings)}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    rng = random.Random(seed)
    placed: set[int] = set()
    items: list[int] = []
    teams: list[int] = []
    competitive: list[bool] = []
    counts = [0] * len(rankings)
    cursors = [0] * len(rankings)

    def next_of(r: int) -> int | None:
        ranking = rankings[r]
        while cursors[r] < len(ranking) and ranking[cursors[r]] in placed:
            cursors[r] += 1
        return ranking[cursors[r]] if cursors[r] < len(ranking) else None

    while len(items) < length:
        heads = [next_of(r) for r in range(len(rankings))]
        live = [r for r, head in enumerate(heads) if head is not None]
        if not live:
            break
        fewest = min(counts[r] for r in live)
        pick = rng.choice([r for r in live if counts[r] == fewest])
        item = heads[pick]
        assert item is not None
        competitive.append(len({heads[r] for r in live}) > 1)
        items.append(item)
        teams.append(pick)
        placed.add(item)
        counts[pick] += 1
    return Merged(tuple(items), tuple(teams), tuple(competitive))


def credit(teams: Sequence[int], clicked_slots: Sequence[int], rankers: int) -> list[int]:
    """Clicks per ranker: each click on a slot goes to the team that placed its item."""
    clicks = [0] * rankers
    for slot in clicked_slots:
        if 0 <= slot < len(teams):
            clicks[teams[slot]] += 1
    return clicks


def outcome(clicks: Sequence[int], a: int, b: int) -> int:
    """One search's verdict between rankers ``a`` and ``b``: +1 (a won: more clicks on its
    items), -1 (b won) or 0 (a tie, no click for either included)."""
    return (clicks[a] > clicks[b]) - (clicks[a] < clicks[b])
