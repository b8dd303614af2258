"""A dataset built from the deployment's own traffic (pure): the searches whose exposures logged
their shown items' features (feature logging, ``ABGATE_FEATURE_LOG_SHARE``), labelled by what
the shoppers then did on each shown item.

Grades follow the usual implicit-feedback ladder: a purchase 3, an add-to-cart 2, a click 1,
shown and left alone 0 (the strongest outcome per item counts). Only outcomes that name their
search label an item: a checkout purchase without a search id says nothing about which page
led to it. Searches with no outcome at all are left out by default (``with_unlabelled``): a
page nobody touched is mostly a page nobody looked at. The output is the JSON-lines form
that :mod:`gateway.models.dataset` reads, so a built dataset is stored like an upload.

A dataset has one feature set: the ``features`` asked for, else those of the latest logged
search kept; searches that lack any of them are left out (counted), extra names dropped.

Such a dataset holds only what production showed (the top of its ranking, graded by clicks
on it): it measures a candidate against production's own choices, favouring production, and
is a log for training the next ranker more than an unbiased judge of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    features: tuple[str, ...] = ()
    other_features: int = 0  # logged searches left out for lacking one of ``features``

    def describe(self) -> dict[str, Any]:
        return {
            "searches": self.searches,
            "logged_searches": self.logged,
            "left_out_unlabelled": self.unlabelled,
            "left_out_lacking_features": self.other_features,
            "features": list(self.features),
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
    features: Sequence[str] | None = None,
) -> TrafficDataset:
    """At most ``max_searches`` searches (the most recent win: pass exposures oldest first)."""
    graded = labels(outcomes)
    kept: list[tuple[ExposureRecord, list[int]]] = []  # each with its rows' grades
    logged = unlabelled = 0
    for e in exposures:
        table = e.features
        if table is None or table.names is None or table.rows == 0:
            continue
        logged += 1
        grades = [graded.get((e.search_id, str(item)), 0) for item in e.items[: table.rows]]
        if not with_unlabelled and not any(grades):
            unlabelled += 1
            continue
        kept.append((e, grades))
    names = tuple(features) if features else _latest_names(kept)
    carrying = [(e, g) for e, g in kept if e.features and not e.features.missing(names)]
    chosen = carrying[-max_searches:]
    lines: list[bytes] = []
    counts: dict[int, int] = {}
    for e, grades in chosen:
        assert e.features is not None
        values = e.features.select(names, "traffic").tolist()
        rows = []
        for item, grade, row in zip(e.items, grades, values, strict=False):
            rows.append(
                {"id": item, "grade": grade, "features": dict(zip(names, row, strict=True))}
            )
            counts[grade] = counts.get(grade, 0) + 1
        lines.append(
            orjson.dumps({"query": e.query, "context": e.context or {}, "candidates": rows})
        )
    return TrafficDataset(
        jsonl=b"".join(line + b"\n" for line in lines),
        searches=len(chosen),
        logged=logged,
        unlabelled=unlabelled,
        candidates=sum(counts.values()),
        graded=counts,
        features=names,
        other_features=len(kept) - len(carrying),
    )


def _latest_names(kept: Sequence[tuple[ExposureRecord, list[int]]]) -> tuple[str, ...]:
    for e, _ in reversed(kept):
        if e.features is not None and e.features.names is not None:
            return e.features.names
    return ()
