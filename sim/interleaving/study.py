"""Interleaving against A/B tests on the simulated storefront: users to a correct decision,
the false-positive rate of an A/I test under continuous monitoring, and agreement with the
offline NDCG difference and the A/B result.

Every method sees the same kind of shoppers as ``make run`` (1–3 searches each, the
simulator's position-based click model and purchase decisions, sim/clicks.py), scored by
the ONNX files the gateway serves, and is tested with the engine's always-valid confidence
sequence (stats/confidence_sequence.py) at the same tuning N*, looking after every user:

- interleaving: each search's page is the team-draft merge of both rankers' lists
  (gateway/interleave/team_draft.py), clicks credited to the placing ranker, aggregated per
  user; decided by the exact always-valid sign test over users
  (gateway/interleave/sign_test.py), which needs no minimum sample;
- A/B: each user sees one ranker (a fair coin); per-user purchase conversion, clicks per
  search and abandonment (searches with no click), each tested as a difference of means.

A run stops at its first significant look or at ``max_users`` (then it is undecided and
counted at the cap: the A/B medians are then lower bounds).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.interleave.sign_test import log_lr
from gateway.interleave.team_draft import Merged, credit, outcome, team_draft
from sim.clicks import simulate_page
from sim.interleaving.rankers import Ranker
from sim.world import Catalog, Intent, retrieve_candidates, sample_intent
from stats.confidence_sequence import confidence_sequence
from stats.effects import Effect

PAGE = 10
MIN_USERS = 100  # per arm before an A/B test's first look (the asymptotic sequence needs some)


@dataclass(frozen=True)
class Search:
    intent: Intent
    candidates: npt.NDArray[np.int64]


@dataclass(frozen=True)
class User:
    index: int
    price_sensitivity: float
    searches: tuple[Search, ...]
    rng: np.random.Generator = field(compare=False)


def users(catalog: Catalog, seed: int) -> Iterator[User]:
    """Shoppers as ``make run`` sends them (sim/shoppers.py): 1–3 searches each."""
    index = 0
    while True:
        rng = np.random.default_rng([seed, index])
        sensitivity = float(rng.uniform(0.2, 0.8))
        searches = []
        for _ in range(int(rng.integers(1, 4))):
            intent = sample_intent(rng)
            searches.append(Search(intent, retrieve_candidates(catalog, intent, rng)))
        yield User(index, sensitivity, tuple(searches), rng)
        index += 1


def scored(
    catalog: Catalog, seed: int, rankers: Sequence[Ranker], chunk: int = 256
) -> Iterator[tuple[User, list[list[npt.NDArray[np.float64]]]]]:
    """Users with each search's scores by every ranker (one ONNX run per chunk of users)."""
    stream = users(catalog, seed)
    while True:
        batch = [next(stream) for _ in range(chunk)]
        searches = [s for u in batch for s in u.searches]
        by_ranker = [
            r.score([s.intent.text for s in searches], [s.candidates for s in searches])
            for r in rankers
        ]
        at = 0
        for user in batch:
            n = len(user.searches)
            yield user, [[scores[at + i] for scores in by_ranker] for i in range(n)]
            at += n


def _ranking(candidates: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> list[int]:
    return [int(x) for x in candidates[np.argsort(-scores, kind="stable")]]


def _interleaved_search(
    catalog: Catalog,
    user: User,
    search: Search,
    scores: Sequence[npt.NDArray[np.float64]],
    same: bool,
) -> tuple[Merged, list[int]]:
    """One search of ``user``: the team-draft page of the two rankers' lists, and the clicks
    the simulated shopper made on it, credited to each ranker."""
    rank_a = _ranking(search.candidates, scores[0])
    rank_b = rank_a if same else _ranking(search.candidates, scores[1])
    merged = team_draft([rank_a, rank_b], PAGE, int(user.rng.integers(2**32)))
    shown = np.asarray(merged.items, dtype=np.int64)
    acts = simulate_page(catalog, search.intent, shown, user.rng, user.price_sensitivity)
    return merged, credit(merged.teams, [act.position for act in acts], 2)


@dataclass(frozen=True)
class Verdict:
    users: int  # users seen when the run stopped
    decided: bool
    sign: int  # +1: the first ranker (a) is preferred / has the higher metric; -1: b; 0: none
    competitive_share: float = float("nan")


def interleaving_run(
    catalog: Catalog,
    a: Ranker,
    b: Ranker,
    seed: int,
    max_users: int,
    alpha: float = 0.05,
) -> Verdict:
    positive = negative = 0  # users who preferred a, b (ties left out: the sign test)
    slots = competitive = 0
    same = a is b
    for users_seen, (user, scores) in enumerate(
        scored(catalog, seed, [a] if same else [a, b]), start=1
    ):
        wins = losses = verdicts = 0
        for search, s in zip(user.searches, scores, strict=True):
            merged, clicks = _interleaved_search(catalog, user, search, s, same)
            slots += len(merged.items)
            competitive += sum(merged.competitive)
            if clicks[0] + clicks[1]:
                verdicts += 1
                v = outcome(clicks, 0, 1)
                wins += v > 0
                losses += v < 0
        positive += wins > losses
        negative += losses > wins
        if log_lr(positive, negative) >= math.log(1 / alpha):  # exact: no minimum sample
            return Verdict(users_seen, True, 1 if positive > negative else -1, competitive / slots)
        if users_seen >= max_users:
            return Verdict(users_seen, False, 0, competitive / slots)
    raise AssertionError("unreachable")


def interleaving_stream_run(
    catalog: Catalog,
    a: Ranker,
    b: Ranker,
    seed: int,
    max_users: int,
    settle: float | None = 5.0,
    spread: float = 50.0,
    alpha: float = 0.05,
) -> Verdict:
    """Interleaving with users overlapping in time, as the worker sees them: each user's
    searches at random moments within ``spread`` users' arrivals of their own. With ``settle``
    (in the same units) a user's preference counts once, when they have been inactive that
    long (the worker's way, gateway/worker/aggregates.py SETTLE_LUA); with None it counts as
    it stands after each search (a later search can move it back). A look after every
    change of the counts."""
    same = a is b
    arrival = np.random.default_rng([seed, 7])
    shoppers = list(itertools.islice(scored(catalog, seed, [a] if same else [a, b]), max_users))
    order = sorted(
        (user.index + float(arrival.uniform(0, spread)), u, k)
        for u, (user, _) in enumerate(shoppers)
        for k in range(len(user.searches))
    )
    last = {u: t for t, u, _ in order}  # each user's last search
    votes = sorted((t + settle, u) for u, t in last.items()) if settle is not None else []
    net = [0] * len(shoppers)
    seen: set[int] = set()
    counts = [0, 0]  # users preferring a, b
    slots = competitive = 0
    cast = 0

    def decided() -> bool:
        return log_lr(counts[0], counts[1]) >= math.log(1 / alpha)

    def verdict(ok: bool) -> Verdict:
        sign = (1 if counts[0] > counts[1] else -1) if ok else 0
        return Verdict(len(seen), ok, sign, competitive / max(slots, 1))

    for t, u, k in order:
        while cast < len(votes) and votes[cast][0] <= t:  # users settled by now
            voter = votes[cast][1]
            cast += 1
            if net[voter]:
                counts[0 if net[voter] > 0 else 1] += 1
                if decided():
                    return verdict(True)
        user, scores = shoppers[u]
        seen.add(u)
        merged, clicks = _interleaved_search(catalog, user, user.searches[k], scores[k], same)
        slots += len(merged.items)
        competitive += sum(merged.competitive)
        v = outcome(clicks, 0, 1)
        if v == 0:
            continue
        before = net[u]
        net[u] += v
        if settle is None:
            counts[0] += (net[u] > 0) - (before > 0)
            counts[1] += (net[u] < 0) - (before < 0)
            if decided():
                return verdict(True)
    for _, voter in votes[cast:]:
        if net[voter]:
            counts[0 if net[voter] > 0 else 1] += 1
            if decided():
                return verdict(True)
    return verdict(False)


# Per user, each a mean over the user's searches: purchase conversion, clicks per search,
# abandonment (searches with no click), the reciprocal rank of the first click and DCG@10 of
# the clicks (the worker's click metrics, gateway/worker/aggregates.py).
AB_METRICS = ("conversion", "clicks_per_search", "abandonment", "mrr_first_click", "dcg_at_10")


@dataclass
class _Arm:
    n: int = 0
    sums: dict[str, list[float]] = field(
        default_factory=lambda: {m: [0.0, 0.0] for m in AB_METRICS}
    )

    def add(self, values: dict[str, float]) -> None:
        self.n += 1
        for m, x in values.items():
            self.sums[m][0] += x
            self.sums[m][1] += x * x

    def moments(self, metric: str) -> tuple[float, float]:
        s, sq = self.sums[metric]
        mean = s / self.n
        var = (sq - self.n * mean * mean) / (self.n - 1)
        return mean, max(var, 0.0) / self.n


def ab_run(
    catalog: Catalog,
    a: Ranker,
    b: Ranker,
    seed: int,
    max_users: int,
    alpha: float = 0.05,
    tuning: float = 5000,
) -> dict[str, Verdict]:
    arms = (_Arm(), _Arm())
    verdicts: dict[str, Verdict] = {}
    users_seen = 0
    for user, scores in scored(catalog, seed, [a, b]):
        users_seen += 1
        arm = int(user.rng.integers(2))
        bought = clicked_searches = clicks = 0
        rr = dcg = 0.0
        for search, s in zip(user.searches, scores, strict=True):
            shown = np.asarray(_ranking(search.candidates, s[arm])[:PAGE], dtype=np.int64)
            acts = simulate_page(catalog, search.intent, shown, user.rng, user.price_sensitivity)
            clicks += len(acts)
            clicked_searches += bool(acts)
            bought += any(act.purchased for act in acts)
            if acts:
                rr += 1.0 / (min(act.position for act in acts) + 1)
            dcg += sum(1.0 / math.log2(act.position + 2) for act in acts if act.position < 10)
        n = len(user.searches)
        arms[arm].add(
            {
                "conversion": float(bought > 0),
                "clicks_per_search": clicks / n,
                "abandonment": 1.0 - clicked_searches / n,
                "mrr_first_click": rr / n,
                "dcg_at_10": dcg / n,
            }
        )
        if min(arms[0].n, arms[1].n) >= MIN_USERS:
            for metric in AB_METRICS:
                if metric in verdicts:
                    continue
                (ma, va), (mb, vb) = arms[0].moments(metric), arms[1].moments(metric)
                effect = Effect(ma - mb, va + vb, arms[0].n + arms[1].n, float("inf"), False)
                inference = confidence_sequence(effect, alpha, tuning)
                if inference.rejects:
                    good = -1 if metric == "abandonment" else 1  # less abandonment is better
                    verdicts[metric] = Verdict(users_seen, True, good * (1 if ma > mb else -1))
        if len(verdicts) == len(AB_METRICS) or users_seen >= max_users:
            break
    for metric in AB_METRICS:
        verdicts.setdefault(metric, Verdict(users_seen, False, 0))
    return verdicts
