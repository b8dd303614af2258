"""``python -m sim.interleaving [--quick] [--out docs/interleaving-validation.md]``: interleaving
against A/B tests on the simulated storefront (a few minutes on 2 cores)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from gateway.settings import ROOT
from sim.build import ensure_demo_models
from sim.interleaving.rankers import Blend, OnnxRanker, Ranker, offline_ndcg
from sim.interleaving.study import (
    AB_METRICS,
    Verdict,
    ab_run,
    interleaving_run,
    interleaving_stream_run,
)
from sim.study_cli import study_main
from sim.world import CATALOG_SEED, make_catalog

REPORT_PATH = ROOT / "docs" / "interleaving-validation.md"
EVAL_FILE = ROOT / "configs" / "eval" / "storefront-heldout.jsonl"
BLEND = 0.1  # the close pair: prod-v1 blended with a tenth of cand-v2
_STATE: dict[str, Any] = {}


def _rankers(models: Path) -> dict[str, Ranker]:
    catalog = make_catalog(seed=CATALOG_SEED)
    prod = OnnxRanker("prod-v1", models / "prod-v1" / "model.onnx", catalog.size)
    cand = OnnxRanker("cand-v2", models / "cand-v2" / "model.onnx", catalog.size)
    return {
        "prod-v1": prod,
        "cand-v2": cand,
        f"blend-{BLEND:g}": Blend(f"blend-{BLEND:g}", prod, cand, BLEND),
    }


def _init(models: Path) -> None:
    _STATE["catalog"] = make_catalog(seed=CATALOG_SEED)
    _STATE["rankers"] = _rankers(models)


def _job(kind: str, a: str, b: str, seed: int, max_users: int) -> Any:
    catalog, rankers = _STATE["catalog"], _STATE["rankers"]
    if kind == "interleaving":
        return interleaving_run(catalog, rankers[a], rankers[b], seed, max_users)
    if kind == "stream":  # as the worker counts: users settle
        return interleaving_stream_run(catalog, rankers[a], rankers[b], seed, max_users)
    if kind == "stream-unsettled":
        return interleaving_stream_run(catalog, rankers[a], rankers[b], seed, max_users, None)
    return ab_run(catalog, rankers[a], rankers[b], seed, max_users)


def _median(verdicts: Sequence[Verdict]) -> float:
    return float(statistics.median(v.users for v in verdicts))


def _row(name: str, verdicts: Sequence[Verdict], truth: int, cap: int) -> str:
    decided = [v for v in verdicts if v.decided]
    correct = sum(v.sign == truth for v in decided)
    censored = "≥ " if len(decided) < len(verdicts) / 2 else ""
    return (
        f"| {name} | {len(decided)}/{len(verdicts)} | {correct}/{len(decided)} | "
        f"{censored}{_median(verdicts):,.0f} | {cap:,} |"
    )


def run(pool: ProcessPoolExecutor, quick: bool, seed: int) -> str:
    models = ROOT / "var" / "demo-models"
    ensure_demo_models(models, log=lambda *a: None)
    rankers = _rankers(models)
    ndcg = {name: offline_ndcg(r, EVAL_FILE) for name, r in rankers.items()}
    pairs = [("prod-v1", "cand-v2"), ("prod-v1", f"blend-{BLEND:g}")]
    n_il, n_ab, n_ai = (4, 2, 20) if quick else (30, 12, 200)
    il_cap, ab_cap, ai_cap = (3000, 6000, 600) if quick else (20_000, 40_000, 1_500)
    lines = [
        "# Interleaving against A/B tests: users to a decision (`make validate-interleaving`)",
        "",
        "Simulated shoppers of the synthetic storefront (1–3 searches each, the position-based "
        "click model of sim/clicks.py), the demo rankers' ONNX files, and the engine's "
        "always-valid tests, α = 0.05, looked at after every user. Interleaving: team-draft "
        "pages, clicks credited to the placing ranker, each user's preference (more wins than "
        "losses, or fewer), the exact always-valid sign test (Beta(1, 1) mixture, "
        "gateway/interleave/sign_test.py; no minimum sample). A/B: a fair coin per user; "
        "purchase conversion, clicks per search, abandonment, the reciprocal rank of the "
        "first click and DCG@10 of the clicks, per user, each with the "
        "engine's asymptotic confidence sequence (N* = 5 000) from 100 users per arm, as the "
        "worker runs an A/B test. "
        "A run stops at its first significant look or at the cap (undecided: counted at the "
        "cap, so a median marked ≥ is a lower bound). Code: sim/interleaving/.",
        "",
        "Offline NDCG@10 (the gates' held-out set): "
        + ", ".join(f"{k} {v:.3f}" for k, v in ndcg.items())
        + f". `blend-{BLEND:g}` ranks by 0.9·z(prod-v1) + 0.1·z(cand-v2) (standardised scores).",
        "",
    ]
    summary: dict[str, float] = {}
    for a, b in pairs:
        truth = 1 if ndcg[a] > ndcg[b] else -1
        il = list(pool.map(_job, ["interleaving"] * n_il, [a] * n_il, [b] * n_il,
                           [seed + i for i in range(n_il)], [il_cap] * n_il))  # fmt: skip
        ab = list(pool.map(_job, ["ab"] * n_ab, [a] * n_ab, [b] * n_ab,
                           [seed + 10_000 + i for i in range(n_ab)], [ab_cap] * n_ab))  # fmt: skip
        lines += [
            f"## {a} against {b} (offline NDCG@10 {ndcg[a]:.3f} vs {ndcg[b]:.3f})",
            "",
            "| method | decided | in the offline direction | median users to the decision | cap |",
            "|---|---|---|---|---|",
            _row("interleaving (team draft)", il, truth, il_cap),
        ]
        for metric in AB_METRICS:
            lines.append(
                _row(f"A/B on {metric.replace('_', ' ')}", [r[metric] for r in ab], truth, ab_cap)
            )
        il_users = _median(il)
        conv = _median([r["conversion"] for r in ab])
        best = min(AB_METRICS[1:], key=lambda m: _median([r[m] for r in ab]))
        best_users = _median([r[best] for r in ab])
        both = [
            (x, r["conversion"])
            for x, r in zip(il, ab, strict=False)
            if x.decided and r["conversion"].decided
        ]
        agree = sum(x.sign == y.sign for x, y in both)
        competitive = statistics.mean(v.competitive_share for v in il)
        summary[f"{a}/{b}"] = conv / il_users
        lines += [
            "",
            f"Users to the decision, A/B on conversion over interleaving: **{conv / il_users:.1f}×**"
            f"{' (a lower bound: A/B censored at its cap)' if sum(r['conversion'].decided for r in ab) < len(ab) / 2 else ''}; "
            f"A/B on the best click metric ({best.replace('_', ' ')}) over interleaving: "
            f"{best_users / il_users:.1f}×. Interleaving agreed with the A/B conversion result in "
            f"{agree}/{len(both)} seeds where both decided. Competitive slots: {competitive:.0%} of "
            "the interleaved slots.",
            "",
        ]
    ai = list(pool.map(_job, ["interleaving"] * n_ai, ["prod-v1"] * n_ai, ["prod-v1"] * n_ai,
                       [seed + 20_000 + i for i in range(n_ai)], [ai_cap] * n_ai))  # fmt: skip
    stream = list(pool.map(_job, ["stream"] * n_ai, ["prod-v1"] * n_ai, ["prod-v1"] * n_ai,
                           [seed + 30_000 + i for i in range(n_ai)], [ai_cap] * n_ai))  # fmt: skip
    unsettled = list(pool.map(_job, ["stream-unsettled"] * n_ai, ["prod-v1"] * n_ai,
                              ["prod-v1"] * n_ai, [seed + 30_000 + i for i in range(n_ai)],
                              [ai_cap] * n_ai))  # fmt: skip
    fp = sum(v.decided for v in ai) / len(ai)
    fp_stream = sum(v.decided for v in stream) / len(stream)
    fp_unsettled = sum(v.decided for v in unsettled) / len(unsettled)
    se = math.sqrt(0.05 * 0.95 / len(ai))
    lines += [
        "## A/I: prod-v1 interleaved with itself",
        "",
        f"{len(ai)} runs of up to {ai_cap:,} users, looked at after every user: false-positive "
        f"rate **{fp:.3f}** (α = 0.05; α + 2 SE = {0.05 + 2 * se:.3f}). Competitive slots: "
        f"{statistics.mean(v.competitive_share for v in ai):.0%}.",
        "",
        "As the worker counts, with users overlapping in time (each user's searches at random "
        "moments within 50 users' arrivals) and each user's preference counted once, when the "
        "user has been inactive for 5 users' arrivals (the worker's `settle_s`), a look after "
        f"every vote: {len(stream)} runs, false-positive rate **{fp_stream:.3f}**.",
        "",
        "Counting every user's preference as it stands after each of their searches instead "
        "(a later search can move a user back, and the likelihood ratio of the counts is then "
        "a submartingale, not a martingale: removing a user from either side raises its "
        f"expectation by (n+1)/n), the same runs: **{fp_unsettled:.3f}**. That is why the "
        "worker counts a user once their searches are over.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    models = ROOT / "var" / "demo-models"
    ensure_demo_models(models, log=lambda *a: None)
    return study_main(
        argv, "python -m sim.interleaving", __doc__, REPORT_PATH, 20261124, run, _init, (models,)
    )


if __name__ == "__main__":
    raise SystemExit(main())
