"""The gates a version passes before it may take traffic, run on an evaluation set.

- integrity: the stored file's sha256 is the card's, it loads, its signature is as declared;
- sanity: every score finite, a repeated batch scored identically;
- offline quality: mean NDCG@10 against graded relevance, at most ``ndcg_margin`` below
  production's;
- latency: a full batch's scoring time (p50 and p99 over runs interleaved with production's,
  so that both see the same machine), p50 at most ``latency_ratio`` times production's;
- consistency: mean overlap@10, Kendall's τ-b and rank-biased overlap with production on the
  same queries, within ``[overlap_min, overlap_max]`` (a ranker that agrees on every slot is
  not worth an experiment; one that agrees on almost none is suspicious).

The evaluation file is JSON lines, one query per line::

    {"query": "waterproof tent", "context": {"hour": 20},
     "candidates": [{"id": 12, "grade": 3, "features": [1.0, 0.0, -0.2]}, ...]}

``grade`` is graded relevance (0 = not relevant … 3 = perfect); ``features`` (the same length
on every candidate) and ``context`` are needed only by models that declare such inputs.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from gateway.errors import ConfigError
from gateway.inference.batch import MergedBatch, RankInput, merge
from gateway.inference.registry import OnnxRanker
from gateway.models.gate_policy import GatePolicy
from gateway.models.ranking_metrics import kendall_tau, ndcg_at_k, overlap_at_k, rank_biased_overlap

MAX_EVAL_QUERIES: Final = 10_000
MAX_GRADE: Final = 10


@dataclass(frozen=True)
class EvalQuery:
    query: str
    items: npt.NDArray[np.int64]
    grades: npt.NDArray[np.int64]
    features: npt.NDArray[np.float32] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalSet:
    source: str
    sha256: str
    queries: tuple[EvalQuery, ...]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "queries": len(self.queries)}


def _bad(line: int, where: str, message: str) -> ConfigError:
    return ConfigError(f"line {line}: {where}", message)


def parse_eval_set(raw: bytes, source: str) -> EvalSet:
    """Parse an evaluation file; an error names the line and the field."""
    queries = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _bad(number, "$", f"not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            raise _bad(number, "$.query", "expected an object with a string 'query'")
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise _bad(number, "$.candidates", "expected a non-empty list")
        items, grades, features = [], [], []
        for i, c in enumerate(candidates):
            at = f"$.candidates[{i}]"
            if not isinstance(c, dict):
                raise _bad(number, at, "expected an object with 'id' and 'grade'")
            item, grade = c.get("id"), c.get("grade")
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise _bad(number, f"{at}.id", f"expected an item id >= 0, got {item!r}")
            if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= MAX_GRADE:
                raise _bad(
                    number, f"{at}.grade", f"expected an integer in [0, {MAX_GRADE}], got {grade!r}"
                )
            items.append(item)
            grades.append(grade)
            if "features" in c:
                f = c["features"]
                if not isinstance(f, list) or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                    for x in f
                ):
                    raise _bad(number, f"{at}.features", "expected a list of finite numbers")
                features.append(f)
        if features and (len(features) != len(items) or len({len(f) for f in features}) != 1):
            raise _bad(
                number, "$.candidates", "features: every candidate or none, all the same length"
            )
        context = data.get("context", {})
        if not isinstance(context, dict):
            raise _bad(number, "$.context", "expected an object")
        queries.append(
            EvalQuery(
                data["query"],
                np.asarray(items, dtype=np.int64),
                np.asarray(grades, dtype=np.int64),
                np.asarray(features, dtype=np.float32) if features else None,
                context,
            )
        )
        if len(queries) > MAX_EVAL_QUERIES:
            raise _bad(number, "$", f"more than {MAX_EVAL_QUERIES} queries")
    if not queries:
        raise ConfigError(source, "the evaluation set holds no queries")
    return EvalSet(source, hashlib.sha256(raw).hexdigest(), tuple(queries))


def load_eval_set(path: Path) -> EvalSet:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the evaluation set: {exc}") from None
    return parse_eval_set(raw, str(path))


def _inputs(model: OnnxRanker, eval_set: EvalSet) -> list[RankInput]:
    return [model.prepare(q.query, q.items, q.features, q.context) for q in eval_set.queries]


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
    eval_set: EvalSet,
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
        "eval_set": eval_set.describe(),
        "policy": vars(policy),
        "results": results,
        "ran_at": time.time(),
    }
    progress("sanity")
    try:
        inputs = _inputs(candidate, eval_set)
        scores = _scores(candidate, inputs)
        batch = _full_batch(inputs, min(policy.batch_pairs, 512))
        repeat_diff = float(np.max(np.abs(candidate.score(batch) - candidate.score(batch))))
    except Exception as exc:  # onnxruntime raises its own types; a failure to score is the finding
        results.append(_gate("sanity", False, f"scoring the evaluation set failed: {exc}"))
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
        np.mean([ndcg_at_k(s, q.grades) for s, q in zip(scores, eval_set.queries, strict=True)])
    )
    if production is None:
        results.append(
            _gate(
                "offline_quality",
                True,
                f"NDCG@10 {ndcg:.4f}; no production to compare with",
                ndcg_at_10=ndcg,
            )
        )
        results.append(_gate("latency", True, "no production to compare with"))
        results.append(_gate("consistency", True, "no production to compare with"))
    else:
        progress("offline_quality")
        try:
            prod_inputs = _inputs(production, eval_set)
            prod_scores = _scores(production, prod_inputs)
        except (
            Exception
        ) as exc:  # onnxruntime raises its own types; a failure to score is the finding
            results.append(
                _gate(
                    "offline_quality",
                    False,
                    f"production {against} could not score the evaluation set: {exc}",
                )
            )
            record["passed"] = False
            return record
        prod_ndcg = float(
            np.mean(
                [ndcg_at_k(s, q.grades) for s, q in zip(prod_scores, eval_set.queries, strict=True)]
            )
        )
        gap = prod_ndcg - ndcg
        quality = gap <= policy.ndcg_margin
        results.append(
            _gate(
                "offline_quality",
                quality,
                f"NDCG@10 {ndcg:.4f} against production {against} {prod_ndcg:.4f} "
                f"({-gap:+.4f}; allowed {-policy.ndcg_margin:+.4f})",
                ndcg_at_10=ndcg,
                production_ndcg_at_10=prod_ndcg,
                margin=policy.ndcg_margin,
            )
        )
        progress("latency")
        results.append(_latency(candidate, production, inputs, prod_inputs, policy, clock))
        progress("consistency")
        overlap = float(
            np.mean([overlap_at_k(a, b) for a, b in zip(scores, prod_scores, strict=True)])
        )
        tau = float(np.mean([kendall_tau(a, b) for a, b in zip(scores, prod_scores, strict=True)]))
        rbo = float(
            np.mean([rank_biased_overlap(a, b) for a, b in zip(scores, prod_scores, strict=True)])
        )
        agrees = policy.overlap_min <= overlap <= policy.overlap_max
        results.append(
            _gate(
                "consistency",
                agrees,
                f"overlap@10 {overlap:.3f}, Kendall tau {tau:.3f}, RBO {rbo:.3f} with {against}; "
                f"allowed overlap [{policy.overlap_min:g}, {policy.overlap_max:g}]",
                overlap_at_10=overlap,
                kendall_tau=tau,
                rbo=rbo,
            )
        )
    record["passed"] = all(r["passed"] for r in results)
    return record


def _latency(
    candidate: OnnxRanker,
    production: OnnxRanker,
    inputs: list[RankInput],
    prod_inputs: list[RankInput],
    policy: GatePolicy,
    clock: Callable[[], float],
) -> dict[str, Any]:
    batch, prod_batch = (
        _full_batch(inputs, policy.batch_pairs),
        _full_batch(prod_inputs, policy.batch_pairs),
    )
    candidate.score(batch)  # warm both before timing
    production.score(prod_batch)
    times: dict[str, list[float]] = {"candidate": [], "production": []}
    for _ in range(policy.latency_runs):
        for name, model, b in (
            ("candidate", candidate, batch),
            ("production", production, prod_batch),
        ):
            start = clock()
            model.score(b)
            times[name].append((clock() - start) * 1000.0)
    p50, p99 = (
        {k: float(np.percentile(v, 50)) for k, v in times.items()},
        {k: float(np.percentile(v, 99)) for k, v in times.items()},
    )
    ratio = p50["candidate"] / max(p50["production"], 1e-9)
    ok = ratio <= policy.latency_ratio
    return _gate(
        "latency",
        ok,
        f"{batch.pairs} pairs: p50 {p50['candidate']:.2f} ms, p99 {p99['candidate']:.2f} ms; "
        f"production p50 {p50['production']:.2f} ms (ratio {ratio:.2f}, allowed {policy.latency_ratio:g})",
        pairs=batch.pairs,
        p50_ms=p50["candidate"],
        p99_ms=p99["candidate"],
        production_p50_ms=p50["production"],
        production_p99_ms=p99["production"],
        ratio=ratio,
    )


def failed_gates(gates: Mapping[str, Any] | None) -> list[str]:
    """The failed gates, each as "name: detail", for an error message."""
    if not gates:
        return []
    return [f"{r['gate']}: {r['detail']}" for r in gates.get("results", []) if not r["passed"]]
