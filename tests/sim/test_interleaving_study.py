"""The interleaving study's runs on the real demo models, briefly: interleaving finds the
better ranker in the offline direction within a few hundred users, an A/I run does not decide
at once, and the A/B run reports every metric."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import ROOT
from sim.interleaving.rankers import Blend, OnnxRanker, offline_ndcg
from sim.interleaving.study import AB_METRICS, ab_run, interleaving_run, interleaving_stream_run
from sim.world import CATALOG_SEED, make_catalog


def test_study_runs(models_dir: Path) -> None:
    catalog = make_catalog(seed=CATALOG_SEED)
    prod = OnnxRanker("prod-v1", models_dir / "prod-v1" / "model.onnx", catalog.size)
    cand = OnnxRanker("cand-v2", models_dir / "cand-v2" / "model.onnx", catalog.size)
    evals = ROOT / "configs" / "eval" / "storefront-heldout.jsonl"
    blend = Blend("blend", prod, cand, 0.1)
    assert offline_ndcg(prod, evals) < offline_ndcg(blend, evals) < offline_ndcg(cand, evals)
    verdict = interleaving_run(catalog, prod, cand, seed=1, max_users=600)
    assert verdict.decided and verdict.sign == -1  # cand-v2 preferred, as offline
    assert verdict.competitive_share > 0.5
    same = interleaving_run(catalog, prod, prod, seed=2, max_users=60)
    assert same.competitive_share == 0.0
    # As the worker counts (overlapping users, preferences as they stand): the same direction.
    streamed = interleaving_stream_run(catalog, prod, cand, seed=4, max_users=600)
    assert streamed.decided and streamed.sign == -1
    assert not interleaving_stream_run(catalog, prod, prod, seed=5, max_users=40).decided
    counted_as_they_stand = interleaving_stream_run(catalog, prod, cand, 4, 600, settle=None)
    assert counted_as_they_stand.decided and counted_as_they_stand.sign == -1
    ab = ab_run(catalog, prod, cand, seed=3, max_users=300)
    assert set(ab) == set(AB_METRICS) and all(v.users <= 300 for v in ab.values())
