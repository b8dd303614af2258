"""The decision of an interleaved experiment from its per-user counts (pure: no I/O).

For each pair of versions (a, b), the counts are of users, the randomisation unit, once their
searches are over (settled: :mod:`gateway.worker.aggregates`): ``positive`` users prefer a (more searches won than lost in the pair, their clicks credited by team draft),
``negative`` users prefer b; users with as many wins as losses say nothing. Each pair is tested
by the exact always-valid sign test (:mod:`gateway.interleave.sign_test`); its p-value is the
running minimum of 1 / Λ, carried from one evaluation to the next so that a pair reported
significant stays so. A multileaving's pairs are adjusted with Holm (Holm 1979): since every
pair's p-value is valid at any stopping time, the family-wise error stays at α however often
the worker looks.

A version wins when it is significantly preferred over every other one. Then:

- the first variant (the control, usually production) winning rolls the others back;
- another version winning is promoted (to production, or to an A/B confirmation: the
  experiment's ``interleaving.then``);
- with no winner, an experiment whose versions disagreed on fewer than
  ``min_competitive_share`` of the slots shown, once ``min_slots`` have been shown, stops
  inconclusive: a click can only tell rankers apart where they disagree. Past
  ``max_runtime_s`` it stops inconclusive too.

The versions are ordered by their summed preference over every pair (a Borda count), the
multileaving's ranking of the versions.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.interleave.sign_test import p_value
from stats.multiple import holm


@dataclass(frozen=True)
class PairCounts:
    """One pair's sums over users and searches (:mod:`gateway.worker.aggregates` keeps them)."""

    positive: int = 0  # users preferring a
    negative: int = 0  # users preferring b
    users: int = 0  # users with at least one search with a verdict in the pair
    won: int = 0  # searches a won
    lost: int = 0  # searches b won


@dataclass(frozen=True)
class InterleavingSums:
    """One interleaved experiment phase's counts."""

    teams: int
    searches: int = 0
    slots: int = 0
    competitive: int = 0
    settled: int = 0  # users whose preferences count (their searches are over)
    pairs: Mapping[tuple[int, int], PairCounts] | None = None
    events: Mapping[int, Mapping[str, int]] | None = None  # team -> event type -> events

    def pair(self, a: int, b: int) -> PairCounts:
        return (self.pairs or {}).get((a, b), PairCounts())

    @property
    def competitive_share(self) -> float | None:
        return self.competitive / self.slots if self.slots else None


def parse_sums(teams: int, raw: Mapping[str, int]) -> InterleavingSums:
    """The counts from the fields of the experiment's hash (``a-b:pos``, ``team:t:click``)."""
    pairs: dict[tuple[int, int], dict[str, int]] = {}
    events: dict[int, dict[str, int]] = {}
    for name, value in raw.items():
        head, _, stat = name.partition(":")
        if head == "team":
            team, _, kind = stat.partition(":")
            events.setdefault(int(team), {})[kind] = int(value)
        elif "-" in head:
            a, _, b = head.partition("-")
            pairs.setdefault((int(a), int(b)), {})[stat] = int(value)
    return InterleavingSums(
        teams=teams,
        searches=int(raw.get("searches", 0)),
        slots=int(raw.get("slots", 0)),
        competitive=int(raw.get("competitive", 0)),
        settled=int(raw.get("settled", 0)),
        pairs={
            key: PairCounts(
                c.get("pos", 0),
                c.get("neg", 0),
                c.get("users", 0),
                c.get("won", 0),
                c.get("lost", 0),
            )
            for key, c in pairs.items()
        },
        events=events,
    )


@dataclass(frozen=True)
class PairVerdict:
    a: int
    b: int
    counts: PairCounts
    p_value: float  # always-valid: the running minimum
    p_adjusted: float  # Holm across the pairs
    significant: bool

    @property
    def preference(self) -> float:
        """(users preferring a − users preferring b) / users with a preference: in [−1, 1]."""
        n = self.counts.positive + self.counts.negative
        return (self.counts.positive - self.counts.negative) / n if n else 0.0


@dataclass(frozen=True)
class Rules:
    alpha: float = 0.05
    min_competitive_share: float = 0.02
    min_slots: int = 2000
    min_runtime_s: float = 0.0
    max_runtime_s: float | None = None


@dataclass(frozen=True)
class InterleavingDecision:
    action: str  # continue, promote, rollback, stop-inconclusive
    winner: int | None  # the winning team (the variant's index)
    reasons: tuple[str, ...]
    blocked_by: tuple[str, ...]
    pairs: tuple[PairVerdict, ...]
    order: tuple[int, ...]  # teams, most preferred first


def order(pairs: Sequence[PairVerdict], teams: int) -> tuple[int, ...]:
    """Teams most preferred first, by summed preference over their pairs (ties: lower first)."""
    score = [0.0] * teams
    for p in pairs:
        score[p.a] += p.preference
        score[p.b] -= p.preference
    return tuple(sorted(range(teams), key=lambda t: (-score[t], t)))


def decide(
    sums: InterleavingSums,
    names: Sequence[str],
    rules: Rules,
    runtime_s: float,
    previous_p: Sequence[float] = (),
) -> InterleavingDecision:
    """The pairs' tests and what to do; ``previous_p`` are the pairs' last p-values (in the
    order of ``itertools.combinations(range(teams), 2)``)."""
    if len(names) != sums.teams:
        raise ValueError(f"{len(names)} names for {sums.teams} teams")
    keys = list(itertools.combinations(range(sums.teams), 2))
    before = list(previous_p) if len(previous_p) == len(keys) else [1.0] * len(keys)
    raw = [
        p_value(sums.pair(a, b).positive, sums.pair(a, b).negative, previous=prev)
        for (a, b), prev in zip(keys, before, strict=True)
    ]
    adjusted = holm(raw)
    pairs = tuple(
        PairVerdict(a, b, sums.pair(a, b), p, q, q <= rules.alpha)
        for (a, b), p, q in zip(keys, raw, adjusted, strict=True)
    )
    ranked = order(pairs, sums.teams)

    def beats(w: int, p: PairVerdict) -> bool:
        return p.significant and (p.preference > 0 if p.a == w else p.preference < 0)

    winners = [w for w in range(sums.teams) if all(beats(w, p) for p in pairs if w in (p.a, p.b))]
    share = sums.competitive_share
    share_text = "no slots shown yet" if share is None else f"competitive slots {share:.1%}"

    def finish(action: str, winner: int | None, *reasons: str) -> InterleavingDecision:
        return InterleavingDecision(action, winner, reasons, (), pairs, ranked)

    if winners:
        w = winners[0]
        against = ", ".join(
            f"{names[p.b if p.a == w else p.a]} (p={p.p_adjusted:.3g}, "
            f"{p.counts.positive if p.a == w else p.counts.negative} users vs "
            f"{p.counts.negative if p.a == w else p.counts.positive})"
            for p in pairs
            if w in (p.a, p.b)
        )
        reason = f"users prefer {names[w]} over {against}; {share_text}"
        if runtime_s < rules.min_runtime_s:
            return InterleavingDecision(
                "continue",
                None,
                (f"{reason}; waiting for min_runtime_s ({rules.min_runtime_s:g} s)",),
                ("min_runtime",),
                pairs,
                ranked,
            )
        return finish("rollback" if w == 0 else "promote", w, reason)
    if share is not None and sums.slots >= rules.min_slots and share < rules.min_competitive_share:
        return finish(
            "stop-inconclusive",
            None,
            f"the versions rank alike: competitive slots {share:.1%} of {sums.slots} shown "
            f"(below min_competitive_share {rules.min_competitive_share:.1%}); clicks cannot "
            "tell them apart",
        )
    if rules.max_runtime_s is not None and runtime_s >= rules.max_runtime_s:
        return finish(
            "stop-inconclusive",
            None,
            f"no version preferred within max_runtime_s ({rules.max_runtime_s:g} s); {share_text}",
        )
    users = sum(p.counts.positive + p.counts.negative for p in pairs)
    return finish(
        "continue",
        None,
        f"no version preferred over every other yet ({users} user preferences over "
        f"{len(pairs)} pair(s) from {sums.settled} settled users); {share_text}",
    )
