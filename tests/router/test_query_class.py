from __future__ import annotations

import numpy as np

from gateway.router.query_class import QueryClasses, normalise


def test_classes_follow_frequency_and_memory_stays_bounded() -> None:
    rng = np.random.default_rng(0)
    classes = QueryClasses(window=10_000, warm_up=1_000)
    # Zipf-like traffic: query q has weight 1 / (q + 1)
    weights = 1.0 / np.arange(1, 200_001)
    draws = rng.choice(len(weights), size=50_000, p=weights / weights.sum())
    last: dict[int, str | None] = {}
    for i, q in enumerate(draws):
        got = classes.observe(f"Query  {q}")
        if i >= 25_000:  # once the decayed total has settled (resolution: 1 / total)
            last[int(q)] = got
    assert last[0] == "head" and last[1] == "head"
    share = weights / weights.sum()
    torso = [q for q in last if 3e-4 < share[q] < 6e-4]
    tail = [q for q in last if share[q] < 2e-5]
    assert torso and sum(last[q] == "torso" for q in torso) > 0.8 * len(torso)
    assert tail and sum(last[q] == "tail" for q in tail) > 0.95 * len(tail)
    assert len(classes) < 3 * 10_000


def test_nothing_is_known_while_warming_up_and_queries_are_normalised() -> None:
    classes = QueryClasses(warm_up=3)
    assert classes.observe("Red  Shoes") is None
    assert classes.observe("red shoes ") is None
    assert classes.observe("RED SHOES") == "head"
    assert classes.observe("blue shoes") == "tail"  # never seen before
    assert normalise("  Red \t Shoes ") == "red shoes"
