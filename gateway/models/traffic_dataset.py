"""A dataset built from the deployment's own traffic (pure): the searches whose exposures logged
their shown items' features (feature logging, ``ABGATE_FEATURE_LOG_SHARE``), labelled by what
the shoppers then did on each shown item.

Grades follow the usual implicit-feedback ladder: a purchase 3, an add-to-cart 2, a click 1,
shown and left alone 0 (the strongest outcome per item counts). Only outcomes that name their
search label an item: a checkout purchase without a search id says nothing about which page
led to it. Searches with no outcome at all are left out by default (``with_unlabelled``): a
page nobody touched is mostly a page nobody looked at. The output is the JSON-lines form
that :mod:`gateway.models.dataset` reads, so a built dataset is stored like an upload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway.records import ExposureRecord, OutcomeRecord

GRADES: Final = {"click": 1, "add_to_cart": 2, "purchase": 3}


@dataclass(frozen=True)
class TrafficDataset:
    jsonl: bytes
    searches: int  # the searches written
    logged: int  # exposures with named features seen
    unlabelled: int  # of those, left out for want of any outcome
    candidates: int
    graded: dict[int, int]  # grade -> candidates

    def describe(self) -> dict[str, Any]:
        return {
            "searches": self.searches,
            "logged_searches": self.logged,
            "left_out_unlabelled": self.unlabelled,
            "candidates": self.candidates,
            "grades": {str(g): n for g, n in sorted(self.graded.items())},
        }


def labels(outcomes: Iterable[OutcomeRecord]) -> dict[tuple[str, str], int]:
    """(search id, item id as text) -> the strongest outcome's grade."""
    out: dict[tuple[str, str], int] = {}
    for o in outcomes:
        if not o.search_id:
            continue
        key = (o.search_id, str(o.item_id))
        out[key] = max(out.get(key, 0), GRADES[o.type])
    return out


def build(
    exposures: Iterable[ExposureRecord],
    outcomes: Iterable[OutcomeRecord],
    max_searches: int,
    with_unlabelled: bool = False,
) -> TrafficDataset:
    """At most ``max_searches`` searches (the most recent win: pass exposures oldest first)."""
    graded = labels(outcomes)
    lines: list[bytes] = []
    logged = unlabelled = candidates = 0
    counts: dict[int, int] = {}
    for e in exposures:
        features = e.features
        if features is None or features.names is None or features.rows == 0:
            continue
        logged += 1
        names = features.names
        rows: list[dict[str, Any]] = []
        for item, values in zip(e.items, features.values.tolist(), strict=False):
            grade = graded.get((e.search_id, str(item)), 0)
            rows.append(
                {"id": item, "grade": grade, "features": dict(zip(names, values, strict=True))}
            )
        if not with_unlabelled and not any(r["grade"] for r in rows):
            unlabelled += 1
            continue
        for r in rows:
            counts[r["grade"]] = counts.get(r["grade"], 0) + 1
        candidates += len(rows)
        line = {"query": e.query, "context": e.context or {}, "candidates": rows}
        lines.append(orjson.dumps(line))
    kept = lines[-max_searches:] if max_searches < len(lines) else lines
    if len(kept) < len(lines):
        counts, candidates = {}, 0
        for raw in kept:
            for c in orjson.loads(raw)["candidates"]:
                counts[c["grade"]] = counts.get(c["grade"], 0) + 1
                candidates += 1
    return TrafficDataset(
        jsonl=b"".join(line + b"\n" for line in kept),
        searches=len(kept),
        logged=logged,
        unlabelled=unlabelled,
        candidates=candidates,
        graded=counts,
    )
