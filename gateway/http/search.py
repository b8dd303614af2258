"""POST /v1/search: route the user, rank the candidates with that version, record the exposure.

A treatment's scoring that fails or passes its deadline (``ABGATE_SCORE_TIMEOUT_MS``) is
counted against it (:mod:`gateway.ops`) and the search is served by production instead, so a
broken candidate costs the shopper nothing while the worker rolls it back. The user stays in
the arm they were assigned to (intention to treat); the exposure names the version that served.
A treatment that reads a named feature the search does not carry is served the same way
(production ranks it, the miss counts against the treatment); production itself missing one is
the storefront's error (400 naming the features).

A user in an interleaved experiment gets one page merged by team draft
(:mod:`gateway.interleave.team_draft`) from every variant's ranking, scored concurrently
through the usual batchers; the exposure carries the per-search random seed, each slot's team
and which slots were competitive. If any variant's scoring fails, production's ranking alone
serves that search (no page to credit) and the failure counts against that variant.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from aiohttp import web

from gateway import metrics
from gateway.config import INTERLEAVED_ARM, Experiment, Shadow, Variant, phase_stats_id
from gateway.config.segments import QUERY_CLASS, Dimension, search_segments
from gateway.errors import InferenceError, Overloaded
from gateway.http.body import read_json_bytes
from gateway.http.errors import OUTCOME, SERVED, json_response
from gateway.http.state import GATEWAY, Gateway
from gateway.inference.batch import Float32Array
from gateway.inference.feature_table import FeatureTable, MissingFeatures
from gateway.interleave.team_draft import team_draft
from gateway.ops.shadow import ShadowJob, sampled
from gateway.records import AssignmentRecord, ExposureRecord, InterleavedPage
from gateway.router.assign import Route
from gateway.schema import SearchRequest, parse_search

_SEEDS = random.SystemRandom()  # a page's seed: unpredictable, and logged with its exposure


async def _rank(gw: Gateway, version: str, query: SearchRequest) -> Float32Array:
    model = gw.registry.get(version)
    try:
        async with asyncio.timeout(gw.settings.score_timeout_s):
            return await model.rank(query.query, query.candidates, query.features, query.context)
    except TimeoutError:
        raise InferenceError(
            f"model {version}: no scores within {gw.settings.score_timeout_s * 1000:g} ms"
        ) from None


async def _score(
    gw: Gateway, route: Route, production: str, query: SearchRequest
) -> tuple[str, Float32Array]:
    """(the version that served, its scores); a failing treatment, or a failing holdout
    baseline, falls back to production."""
    a = route.assignments[0] if route.assignments else route.holdout
    if a is None or (route.model_version == production and not route.assignments):
        return route.model_version, await _rank(gw, route.model_version, query)
    stats_id = phase_stats_id(a.experiment, a.phase)
    started = time.perf_counter()
    try:
        scores = await _rank(gw, route.model_version, query)
    except (InferenceError, Overloaded, MissingFeatures) as exc:
        if isinstance(exc, MissingFeatures):
            if route.model_version == production:
                raise
            metrics.MISSING_FEATURES.labels(route.model_version).inc()
        gw.ops.failed(stats_id, a.variant, isinstance(exc, MissingFeatures))
        if route.model_version == production:
            raise
        return production, await _rank(gw, production, query)
    gw.ops.scored(stats_id, a.variant, (time.perf_counter() - started) * 1000.0)
    return route.model_version, scores


async def _timed(gw: Gateway, version: str, query: SearchRequest) -> tuple[Float32Array, float]:
    started = time.perf_counter()
    scores = await _rank(gw, version, query)
    return scores, (time.perf_counter() - started) * 1000.0


async def _interleave(
    gw: Gateway, experiment: Experiment, stats_id: str, production: str, query: SearchRequest
) -> tuple[list[int], list[float], InterleavedPage | None]:
    """(the page's candidate indices, their scores, how it was merged); production's page
    alone (no merge) when any variant's scoring fails."""
    variants: Sequence[Variant] = experiment.variants
    versions = list(dict.fromkeys(v.model_version for v in variants))  # an A/I ranks once
    results = await asyncio.gather(
        *(_timed(gw, version, query) for version in versions), return_exceptions=True
    )
    by_version = dict(zip(versions, results, strict=True))
    for result in results:
        if isinstance(result, BaseException) and not isinstance(
            result, InferenceError | Overloaded | MissingFeatures
        ):
            raise result
    for variant in variants:  # each variant's scoring counts for it, as an A/B arm's does
        result = by_version[variant.model_version]
        if isinstance(result, BaseException):
            if isinstance(result, MissingFeatures):
                metrics.MISSING_FEATURES.labels(variant.model_version).inc()
            gw.ops.failed(stats_id, variant.name, isinstance(result, MissingFeatures))
        else:
            gw.ops.scored(stats_id, variant.name, result[1])
    ok = {v: r[0] for v, r in by_version.items() if not isinstance(r, BaseException)}
    if len(ok) < len(versions):
        scores = ok[production] if production in ok else await _rank(gw, production, query)
        top = np.argsort(-scores, kind="stable")[: query.k]
        return [int(i) for i in top], [float(scores[i]) for i in top], None
    team_scores = [ok[v.model_version] for v in variants]
    rankings = [[int(i) for i in np.argsort(-scores, kind="stable")] for scores in team_scores]
    seed = _SEEDS.getrandbits(63)
    merged = team_draft(rankings, query.k, seed)
    page = InterleavedPage(
        seed,
        tuple(v.model_version for v in variants),
        merged.teams,
        merged.competitive,
        experiment.interleaving.credit if experiment.interleaving else "click",
    )
    # The merge ran over candidate indices; each slot shows its placing team's score.
    scores_shown = [
        float(team_scores[team][i]) for i, team in zip(merged.items, merged.teams, strict=True)
    ]
    return list(merged.items), scores_shown, page


def _offer_shadows(
    gw: Gateway,
    shadows: Sequence[Shadow],
    search_id: str,
    query: SearchRequest,
    scores: Float32Array,
) -> None:
    """Production's search, scored by each shadow version it samples: off the response path,
    offered, never awaited."""
    for shadow in shadows:
        if sampled(search_id, shadow.share):
            gw.shadow.offer(
                ShadowJob(
                    shadow.version,
                    query.query,
                    query.candidates,
                    query.features,
                    query.context,
                    scores,
                )
            )


def _logged_features(
    gw: Gateway, search_id: str, query: SearchRequest, top: Sequence[int]
) -> FeatureTable | None:
    """Feature logging: on a sampled share of searches (``ABGATE_FEATURE_LOG_SHARE``, by
    search id), the shown items' features, in page order, at most
    ``ABGATE_FEATURE_LOG_MAX_VALUES`` numbers (the top rows that fit)."""
    features, settings = query.features, gw.settings
    if features is None or not sampled(search_id, settings.feature_log_share):
        return None
    rows = min(len(top), settings.feature_log_max_values // max(features.width, 1))
    return features.take(top[:rows])


async def search(request: web.Request) -> web.Response:
    """Admission first: past ``max_inflight`` searches in progress, or while the event loop
    runs more than ``max_lag_ms`` behind, the answer is 503 with Retry-After before the body
    is read, which costs a fraction of a search, so a process offered more than it can serve
    sheds the excess instead of queueing it."""
    gw = request.app[GATEWAY]
    settings = gw.settings
    if gw.searching >= settings.max_inflight:
        raise Overloaded(
            f"{gw.searching} searches in progress in this process "
            f"(ABGATE_MAX_INFLIGHT={settings.max_inflight}); retry shortly",
            retry_after_s=1.0,
        )
    if gw.lag.lag_s * 1000.0 > settings.max_lag_ms:
        raise Overloaded(
            f"this process runs {gw.lag.lag_s * 1000.0:.0f} ms behind "
            f"(ABGATE_MAX_LAG_MS={settings.max_lag_ms:g}); retry shortly",
            retry_after_s=1.0,
        )
    gw.searching += 1
    metrics.SEARCHES_IN_FLIGHT.inc()
    try:
        return await _search(request, gw)
    finally:
        gw.searching -= 1
        metrics.SEARCHES_IN_FLIGHT.dec()


async def _search(request: web.Request, gw: Gateway) -> web.Response:
    body = await read_json_bytes(request, gw)
    query = parse_search(body)
    gw.ops.searched(None if query.features is None else query.features.names)
    router = gw.router  # one snapshot for the whole request
    route = router.route(query.user_id)
    search_id = gw.search_ids.issue(query.user_id)
    production = router.production
    page: InterleavedPage | None = None
    if route.interleave:
        a = route.assignments[0]
        top, shown, page = await _interleave(
            gw,
            router.config.experiment(a.experiment),
            phase_stats_id(a.experiment, a.phase),
            production,
            query,
        )
        served = INTERLEAVED_ARM if page is not None else production
        if page is None:
            request[OUTCOME] = "fallback"
    else:
        served, scores = await _score(gw, route, production, query)
        if served != route.model_version:
            request[OUTCOME] = "fallback"
        order = np.argsort(-scores, kind="stable")[: query.k]
        top, shown = order.tolist(), scores[order].tolist()  # Python ints and floats at once
        if not route.assignments and served == production:
            _offer_shadows(gw, router.config.shadows, search_id, query, scores)
    request[SERVED] = served
    results = [
        {"item_id": query.candidates[i], "score": score}
        for i, score in zip(top, shown, strict=True)
    ]
    assignments = tuple(
        AssignmentRecord(a.experiment, a.variant, a.model_version, a.phase)
        for a in (*route.assignments, *(() if route.holdout is None else (route.holdout,)))
    )
    exposure = ExposureRecord(
        event_id=search_id,
        search_id=search_id,
        user_id=query.user_id,
        ts=time.time(),
        config_version=router.version,
        model_version=served,
        assignments=assignments,
        items=tuple(query.candidates[i] for i in top),
        interleaving=page,
        segments=_segments(gw, router.config.segments, query) if assignments else "",
    )
    logged = _logged_features(gw, search_id, query, top)
    if logged is not None:
        exposure = replace(exposure, features=logged, query=query.query, context=query.context)
    await gw.sink.put([(gw.keys.for_user(query.user_id).exposures, exposure.to_json())])
    for tag in assignments:
        metrics.EXPERIMENT_EXPOSURES.labels(tag.experiment, tag.variant).inc()
    return json_response(
        {
            "search_id": search_id,
            # The version that ranked this page: production when a treatment could not
            # (its arm stays in "assignments"), "interleaved" for a merged page.
            "model_version": served,
            "results": results,
            "assignments": [a.to_json() for a in assignments],
        }
    )


def _segments(gw: Gateway, dimensions: tuple[Dimension, ...], query: SearchRequest) -> str:
    """The search's segment labels for its exposure (gateway.config.segments); the query's
    class counted here when a dimension reads it and the storefront did not say it."""
    if not dimensions:
        return ""
    context = query.context
    if QUERY_CLASS not in context and any(d.source == QUERY_CLASS for d in dimensions):
        context = {**context, QUERY_CLASS: gw.query_classes.observe(query.query)}
    return search_segments(dimensions, context)
