"""The gates a version passes before it may take traffic, run on an evaluation dataset
(:mod:`gateway.models.dataset`).

- integrity: the stored file's sha256 is the card's, it loads, its signature is as declared;
- sanity: the dataset carries every feature the version reads; every score finite, a repeated
  batch scored identically;
- offline quality: mean NDCG@10 against graded relevance, at most ``ndcg_margin`` below
  production's on the same dataset. When production cannot read the dataset (it lacks
  features production reads), the comparison is recorded as not made, with why;
- latency: ONE request of ``latency_candidates`` candidates (built from the dataset's queries,
  repeated as needed), scored ``latency_runs`` times on this deployment's own CPU or GPU,
  interleaved with production's runs: p99 at most ``latency_budget_ms`` and, when
  ``latency_ratio`` is set, p50 at most that many times production's;
- consistency: mean overlap@10, Kendall's τ-b and rank-biased overlap with production on the
  same queries, within ``[overlap_min, overlap_max]`` (a ranker that agrees on every slot is
  not worth an experiment; one that agrees on almost none is suspicious).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from gateway.inference.batch import MergedBatch, RankInput, merge
from gateway.inference.feature_table import FeatureTable
from gateway.inference.registry import OnnxRanker
from gateway.models.card import Declaration
from gateway.models.dataset import Dataset, DatasetQuery, missing_features
from gateway.models.gate_policy import GatePolicy
from gateway.models.ranking_metrics import kendall_tau, ndcg_at_k, overlap_at_k, rank_biased_overlap

# The pairs of the sanity gate's repeated batch.
SANITY_PAIRS: Final = 512
# How many missing feature names a gate's detail lists.
LISTED: Final = 10


def lacking_in(have: Sequence[str] | None, have_width: int, declaration: Declaration) -> list[str]:
    """The features ``declaration`` reads that a dataset carrying ``have`` (None: unnamed
    arrays of ``have_width``) lacks; empty when the version can read it."""
    names = declaration.feature_names
    return missing_features(have, have_width, names, 0 if names else declaration.feature_dim)


def lacking(dataset: Dataset, declaration: Declaration) -> list[str]:
    return lacking_in(dataset.feature_names, dataset.feature_width, declaration)


def describe_lacking(missing: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in missing[:LISTED])
    return shown + (f" and {len(missing) - LISTED} more" if len(missing) > LISTED else "")


def _prepare(model: OnnxRanker, q: DatasetQuery) -> RankInput:
    return model.prepare(q.query, q.items, q.features, q.context)


def _inputs(model: OnnxRanker, dataset: Dataset) -> list[RankInput]:
    return [_prepare(model, q) for q in dataset.queries]


def _scores(model: OnnxRanker, inputs: list[RankInput]) -> list[npt.NDArray[np.float32]]:
    out: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(inputs), 64):
        chunk = inputs[start : start + 64]
        batch = merge(chunk)
        scores = model.score(batch)
        out.extend(scores[batch.offsets[i] : batch.offsets[i + 1]] for i in range(len(chunk)))
    return out


def _full_batch(inputs: list[RankInput], pairs: int) -> MergedBatch:
    chosen, total = [], 0
    while total < pairs:
        for inp in inputs:
            chosen.append(inp)
            total += inp.pairs
            if total >= pairs:
                break
    return merge(chosen)


def _gate(name: str, passed: bool, detail: str, **figures: Any) -> dict[str, Any]:
    return {"gate": name, "passed": passed, "detail": detail, "figures": figures}


def run_gates(
    candidate: OnnxRanker,
    production: OnnxRanker | None,
    dataset: Dataset,
    policy: GatePolicy,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[str], None] = lambda gate: None,
) -> dict[str, Any]:
    """Every gate's result for ``candidate`` (already loaded: integrity held on loading);
    ``progress`` hears the name of each gate as it starts."""
    against = None if production is None else production.version
    results = [_gate("integrity", True, "sha256 as registered, loadable, signature as declared")]
    record: dict[str, Any] = {
        "against": against,
        "dataset": dataset.describe(),
        "policy": policy.to_json(),
        "results": results,
        "ran_at": time.time(),
    }
    progress("sanity")
    missing = lacking(dataset, candidate.declaration)
    if missing:
        results.append(
            _gate(
                "sanity",
                False,
                f"the dataset {dataset.source} lacks feature(s) {candidate.version} reads: "
                f"{describe_lacking(missing)}; re-gate it on a dataset that carries them",
                missing_features=missing,
            )
        )
        record["passed"] = False
        return record
    try:
        inputs = _inputs(candidate, dataset)
        scores = _scores(candidate, inputs)
        batch = _full_batch(inputs, SANITY_PAIRS)
        repeat_diff = float(np.max(np.abs(candidate.score(batch) - candidate.score(batch))))
    except Exception as exc:  # onnxruntime raises its own types; a failure to score is the finding
        results.append(_gate("sanity", False, f"scoring the dataset failed: {exc}"))
        record["passed"] = False
        return record
    finite = all(bool(np.isfinite(s).all()) for s in scores)
    sane = finite and repeat_diff == 0.0
    results.append(
        _gate(
            "sanity",
            sane,
            "finite scores, identical on a repeated batch"
            if sane
            else (
                "non-finite scores"
                if not finite
                else f"a repeated batch differs by {repeat_diff:g}"
            ),
            finite=finite,
            repeat_max_abs_diff=repeat_diff,
        )
    )
    ndcg = float(
        np.mean([ndcg_at_k(s, q.grades) for s, q in zip(scores, dataset.queries, strict=True)])
    )
    progress("offline_quality")
    prod_scores, unreadable = None, None
    if production is None:
        unreadable = "no production to compare with"
    elif prod_missing := lacking(dataset, production.declaration):
        unreadable = (
            f"not compared with production {against}: it reads feature(s) the dataset lacks: "
            f"{describe_lacking(prod_missing)}"
        )
        record["production_lacks"] = prod_missing
    else:
        try:
            prod_scores = _scores(production, _inputs(production, dataset))
        except Exception as exc:  # onnxruntime raises its own types; scoring failed is the finding
            results.append(
                _gate(
                    "offline_quality",
                    False,
                    f"production {against} could not score the dataset: {exc}",
                )
            )
            record["passed"] = False
            return record
    if prod_scores is None:
        results.append(
            _gate(
                "offline_quality",
                True,
                f"NDCG@10 {ndcg:.4f}; {unreadable}",
                ndcg_at_10=ndcg,
                compared=False,
            )
        )
    else:
        prod_ndcg = float(
            np.mean(
                [ndcg_at_k(s, q.grades) for s, q in zip(prod_scores, dataset.queries, strict=True)]
            )
        )
        gap = prod_ndcg - ndcg
        results.append(
            _gate(
                "offline_quality",
                gap <= policy.ndcg_margin,
                f"NDCG@10 {ndcg:.4f} against production {against} {prod_ndcg:.4f} "
                f"({-gap:+.4f}; allowed {-policy.ndcg_margin:+.4f})",
                ndcg_at_10=ndcg,
                production_ndcg_at_10=prod_ndcg,
                margin=policy.ndcg_margin,
                compared=True,
            )
        )
    progress("latency")
    try:
        results.append(
            _latency(candidate, None if prod_scores is None else production, dataset, policy, clock)
        )
    except Exception as exc:  # onnxruntime raises its own types; scoring failed is the finding
        results.append(_gate("latency", False, f"scoring the latency request failed: {exc}"))
    progress("consistency")
    results.append(_consistency(scores, prod_scores, against, unreadable, policy))
    record["passed"] = all(r["passed"] for r in results)
    return record


def _consistency(
    scores: list[npt.NDArray[np.float32]],
    prod_scores: list[npt.NDArray[np.float32]] | None,
    against: str | None,
    unreadable: str | None,
    policy: GatePolicy,
) -> dict[str, Any]:
    if prod_scores is None:
        return _gate("consistency", True, str(unreadable), compared=False)
    pairs = list(zip(scores, prod_scores, strict=True))
    overlap = float(np.mean([overlap_at_k(a, b) for a, b in pairs]))
    tau = float(np.mean([kendall_tau(a, b) for a, b in pairs]))
    rbo = float(np.mean([rank_biased_overlap(a, b) for a, b in pairs]))
    return _gate(
        "consistency",
        policy.overlap_min <= overlap <= policy.overlap_max,
        f"overlap@10 {overlap:.3f}, Kendall tau {tau:.3f}, RBO {rbo:.3f} with {against}; "
        f"allowed overlap [{policy.overlap_min:g}, {policy.overlap_max:g}]",
        overlap_at_10=overlap,
        kendall_tau=tau,
        rbo=rbo,
        compared=True,
    )


def latency_request(dataset: Dataset, candidates: int) -> DatasetQuery:
    """One request of ``candidates`` candidates: the dataset's queries' candidates in order,
    from the first query on, repeated as needed (the query text and context are the first's)."""
    items: list[int | str] = []
    rows: list[npt.NDArray[np.float32]] = []
    grades: list[npt.NDArray[np.int64]] = []
    while len(items) < candidates:
        for q in dataset.queries:
            take = min(q.size, candidates - len(items))
            items.extend(q.items[:take])
            grades.append(q.grades[:take])
            if q.features is not None:
                rows.append(q.features.values[:take])
            if len(items) >= candidates:
                break
    first = dataset.queries[0]
    table = (
        None if first.features is None else FeatureTable(np.concatenate(rows), first.features.names)
    )
    return DatasetQuery(first.query, tuple(items), np.concatenate(grades), table, first.context)


def _latency(
    candidate: OnnxRanker,
    production: OnnxRanker | None,
    dataset: Dataset,
    policy: GatePolicy,
    clock: Callable[[], float],
) -> dict[str, Any]:
    request = latency_request(dataset, policy.latency_candidates)
    runs: list[tuple[str, OnnxRanker, MergedBatch]] = [
        ("candidate", candidate, merge([_prepare(candidate, request)]))
    ]
    if production is not None:
        runs.append(("production", production, merge([_prepare(production, request)])))
    for _, model, batch in runs:  # warm both before timing
        model.score(batch)

    def measure() -> tuple[dict[str, float], dict[str, float]]:
        times: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        for _ in range(policy.latency_runs):
            for name, model, batch in runs:
                start = clock()
                model.score(batch)
                times[name].append((clock() - start) * 1000.0)
        p50 = {k: float(np.percentile(v, 50)) for k, v in times.items()}
        return p50, {k: float(np.percentile(v, 99)) for k, v in times.items()}

    p50, p99 = measure()
    measurements = 1
    if p99["candidate"] > policy.latency_budget_ms:
        # Confirmed before it fails: a stall of the machine (another process, a page fault)
        # only ever adds time, so the faster of two measurements is the model's.
        again = measure()
        measurements = 2
        if again[1]["candidate"] < p99["candidate"]:
            p50, p99 = again
    within = p99["candidate"] <= policy.latency_budget_ms
    detail = (
        f"one request of {request.size} candidates, {policy.latency_runs} runs: "
        f"p99 {p99['candidate']:.2f} ms (budget {policy.latency_budget_ms:g} ms), "
        f"p50 {p50['candidate']:.2f} ms"
    )
    figures: dict[str, Any] = {
        "candidates": request.size,
        "runs": policy.latency_runs,
        "p50_ms": p50["candidate"],
        "p99_ms": p99["candidate"],
        "budget_ms": policy.latency_budget_ms,
        "measurements": measurements,
    }
    ratio_ok = True
    if production is not None:
        ratio = p50["candidate"] / max(p50["production"], 1e-9)
        figures |= {
            "production_p50_ms": p50["production"],
            "production_p99_ms": p99["production"],
            "ratio": ratio,
            "ratio_allowed": policy.latency_ratio,
        }
        ratio_ok = policy.latency_ratio is None or ratio <= policy.latency_ratio
        allowed = (
            "no limit" if policy.latency_ratio is None else f"allowed {policy.latency_ratio:g}"
        )
        detail += f"; production p50 {p50['production']:.2f} ms (ratio {ratio:.2f}, {allowed})"
    elif policy.latency_ratio is not None:
        detail += (
            "; the ratio to production was not measured (no production that reads the dataset)"
        )
    return _gate("latency", within and ratio_ok, detail, **figures)


def failed_gates(gates: Mapping[str, Any] | None) -> list[str]:
    """The failed gates, each as "name: detail", for an error message."""
    if not gates:
        return []
    return [f"{r['gate']}: {r['detail']}" for r in gates.get("results", []) if not r["passed"]]
