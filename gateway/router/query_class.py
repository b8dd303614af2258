"""Head, torso or tail: a query's class by how often it is searched, counted in the process.

Each gateway process counts normalised queries (lower case, single spaces) with exponential
forgetting: every ``window`` searches every count is halved and counts below one are dropped,
so memory stays below about ``2 * window`` queries and the counts follow the shop's current
traffic. A query's share is its count before this search over the (equally decayed) total
(a query never seen before is tail, however few searches were counted): at least
``HEAD_SHARE`` is head, at least ``TORSO_SHARE`` torso, else tail. Before ``warm_up`` searches
nothing is known (``None``: the dimension reads ``other``). Processes count their own share of
the traffic, which a load balancer spreads alike, so they agree on all but the borderline
queries — and a user's segment is that of their first exposure, so a borderline query moves
no one later.

Decayed counting in the spirit of Cormode, Shkapenyuk, Srivastava & Xu, "Forward Decay: A
Practical Time Decay Model for Streaming Systems" (ICDE 2009), with halving at fixed
intervals; a storefront that knows its query classes sends ``context.query_class`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

QueryClass = Literal["head", "torso", "tail"]
HEAD_SHARE: Final = 1e-3  # a head query is at least 0.1 % of searches
TORSO_SHARE: Final = 1e-4  # a torso query at least 0.01 %


def normalise(query: str) -> str:
    return " ".join(query.lower().split())


@dataclass
class QueryClasses:
    window: int = 100_000
    warm_up: int = 2_000
    _counts: dict[str, float] = field(default_factory=dict)
    _total: float = 0.0
    _since_decay: int = 0
    _seen: int = 0

    def observe(self, query: str) -> QueryClass | None:
        """Count one search of ``query`` and say its class (None while warming up)."""
        key = normalise(query)
        count = self._counts.get(key, 0.0) + 1.0
        self._counts[key] = count
        self._total += 1.0
        self._seen += 1
        self._since_decay += 1
        if self._since_decay >= self.window:
            self._decay()
            count = self._counts.get(key, 0.0)
        if self._seen < self.warm_up:
            return None
        share = (count - 1.0) / self._total  # how often it came before this search
        if share >= HEAD_SHARE:
            return "head"
        return "torso" if share >= TORSO_SHARE else "tail"

    def _decay(self) -> None:
        self._counts = {q: c / 2 for q, c in self._counts.items() if c >= 2}
        self._total /= 2
        self._since_decay = 0

    def __len__(self) -> int:
        return len(self._counts)
