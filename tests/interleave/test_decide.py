"""The interleaved experiment's decision against counts worked by hand."""

from __future__ import annotations

import pytest

from gateway.interleave.decide import InterleavingSums, PairCounts, Rules, decide, parse_sums

NAMES2 = ["production", "candidate"]
NAMES3 = ["production", "worse", "candidate"]


def _sums(
    teams: int, pairs: dict[str, tuple[int, int]], slots: int = 100, competitive: int = 90
) -> InterleavingSums:
    raw: dict[str, int] = {"searches": slots // 10, "slots": slots, "competitive": competitive}
    for pair, (pos, neg) in pairs.items():
        raw |= {f"{pair}:pos": pos, f"{pair}:neg": neg, f"{pair}:users": pos + neg + 3}
    return parse_sums(teams, raw)


def test_parse_sums_reads_every_field() -> None:
    raw = {
        "searches": 7,
        "slots": 70,
        "competitive": 35,
        "team:0:click": 4,
        "team:1:purchase": 2,
        "0-1:pos": 3,
        "0-1:neg": 1,
        "0-1:users": 6,
        "0-1:won": 5,
        "0-1:lost": 2,
    }
    sums = parse_sums(2, raw)
    assert sums.pair(0, 1) == PairCounts(3, 1, 6, 5, 2)
    assert sums.events == {0: {"click": 4}, 1: {"purchase": 2}}
    assert sums.competitive_share == 0.5 and sums.searches == 7
    assert parse_sums(2, {}).competitive_share is None


def test_ten_users_one_way_decide() -> None:
    # p = 1/Λ = 11/1024 = 0.0107 <= 0.05 (tests/interleave/test_sign_test.py).
    rollback = decide(_sums(2, {"0-1": (10, 0)}), NAMES2, Rules(), 60.0)
    assert (rollback.action, rollback.winner) == ("rollback", 0)
    assert rollback.pairs[0].p_value == pytest.approx(11 / 1024)
    assert rollback.pairs[0].preference == 1.0
    promote = decide(_sums(2, {"0-1": (0, 10)}), NAMES2, Rules(), 60.0)
    assert (promote.action, promote.winner, promote.order) == ("promote", 1, (1, 0))
    assert "users prefer candidate over production (p=0.0107, 10 users vs 0)" in promote.reasons[0]
    # 3 and 1 is no evidence (Λ = 0.8), unless an earlier look was significant.
    assert decide(_sums(2, {"0-1": (1, 3)}), NAMES2, Rules(), 60.0).action == "continue"
    kept = decide(_sums(2, {"0-1": (1, 3)}), NAMES2, Rules(), 60.0, previous_p=[0.01])
    assert (kept.action, kept.winner, kept.pairs[0].p_value) == ("promote", 1, 0.01)


def test_min_runtime_holds_a_winner_back() -> None:
    held = decide(_sums(2, {"0-1": (0, 10)}), NAMES2, Rules(min_runtime_s=120), 60.0)
    assert held.action == "continue" and held.blocked_by == ("min_runtime",)


def test_multileaving_holm_and_order() -> None:
    # p: (0,1) 0 vs 12: 13/4096 = 0.003174; (0,2) the same; (1,2) 1 vs 12:
    # Λ = 2^13 · 1! 12! / 14! = 8192 / 182 = 45.01, p = 0.022217.
    # Holm: 3 · 0.003174 = 0.009521, max(2 · 0.003174, 0.009521) = 0.009521, 0.022217.
    sums = _sums(3, {"0-1": (0, 12), "0-2": (0, 12), "1-2": (1, 12)})
    d = decide(sums, NAMES3, Rules(), 60.0)
    assert [p.p_value for p in d.pairs] == pytest.approx([13 / 4096, 13 / 4096, 182 / 8192])
    assert [p.p_adjusted for p in d.pairs] == pytest.approx(
        [3 * 13 / 4096, 3 * 13 / 4096, 182 / 8192]
    )
    # Borda: production −2, worse +1 − 11/13, candidate +1 + 11/13.
    assert d.order == (2, 1, 0)
    assert (d.action, d.winner) == ("promote", 2)
    # Beating only one of the other two is not a win.
    partial = decide(_sums(3, {"0-2": (0, 12), "1-2": (3, 3)}), NAMES3, Rules(), 60.0)
    assert partial.action == "continue" and partial.winner is None


def test_rankers_that_agree_stop_inconclusive_after_min_slots() -> None:
    few = decide(_sums(2, {"0-1": (3, 2)}, slots=1999, competitive=0), NAMES2, Rules(), 60.0)
    assert few.action == "continue"
    alike = decide(_sums(2, {"0-1": (3, 2)}, slots=2000, competitive=39), NAMES2, Rules(), 60.0)
    assert alike.action == "stop-inconclusive"
    assert "competitive slots 1.9% of 2000 shown" in alike.reasons[0]
    differ = decide(_sums(2, {"0-1": (3, 2)}, slots=2000, competitive=40), NAMES2, Rules(), 60.0)
    assert differ.action == "continue"
    late = decide(_sums(2, {"0-1": (3, 2)}), NAMES2, Rules(max_runtime_s=30), 60.0)
    assert late.action == "stop-inconclusive" and "max_runtime_s" in late.reasons[0]
