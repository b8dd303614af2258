"""The committed evaluation set is exactly what its generator writes, and parses."""

from __future__ import annotations

from gateway.models.dataset import load_dataset
from gateway.settings import ROOT
from sim.evalset import eval_lines

PATH = ROOT / "configs" / "eval" / "storefront-heldout.jsonl"


def test_committed_eval_set_is_regenerated_byte_for_byte() -> None:
    assert PATH.read_bytes() == eval_lines()
    eval_set = load_dataset(PATH)
    assert len(eval_set.queries) == 200
    assert eval_set.feature_names is None and eval_set.feature_width == 3
    assert all(q.features is not None and q.features.width == 3 for q in eval_set.queries)
