"""Admin API reads: experiments with their statistics, the audit trail, models."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.catalogue.sums import EMPTY
from gateway.config import phase_stats_id, routing_to_dict
from gateway.control.audit import AuditFilter, subjects
from gateway.dashboard.chart import chart_marks, lift_chart
from gateway.errors import RequestError
from gateway.evaluations import read_history
from gateway.http.errors import json_response
from gateway.http.lifecycle import experiment_view
from gateway.http.state import GATEWAY
from gateway.http.static import STATIC
from gateway.records import EvaluationRecord
from gateway.variant_stats import read_variant_stats

MAX_AUDIT_COUNT = 10_000
# A filtered audit read scans at most this many entries, this many at a time.
MAX_AUDIT_SCAN = 10_000
AUDIT_PAGE = 500


async def list_experiments(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    return json_response({"version": gw.router.version} | routing_to_dict(gw.router.config))


async def get_experiment(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    data = experiment_view(gw.router.config, key)
    experiment = gw.router.config.experiment(key)
    if experiment.bandit is not None:
        return json_response(data | await gw.redis_guard.read(lambda: _bandit_view(gw, key)))

    async def phase(index: int) -> dict[str, Any]:
        sid = phase_stats_id(key, index)
        raw = await gw.redis.hget(gw.keys.decisions, sid)
        return {
            "phase": index,
            # VariantSums is a Mapping, not a dict: its JSON is the plain dict of its sums.
            "stats": {
                v: dict(s) for v, s in (await read_variant_stats(gw.redis, gw.keys, sid)).items()
            },
            "last_evaluation": None if raw is None else EvaluationRecord.from_json(raw).to_json(),
        }

    async def read() -> list[dict[str, Any]]:
        return [await phase(i) for i in range(experiment.phase + 1)]

    phases = await gw.redis_guard.read(read)
    # The current phase's statistics and evaluation at the top; every phase's below.
    data["phase"] = experiment.phase
    data["stats"] = phases[-1]["stats"]
    data["last_evaluation"] = phases[-1]["last_evaluation"]
    for record, info in zip(phases, experiment.phases or (None,), strict=False):
        if info is not None:
            record |= {"weights": list(info.weights), "started_at": info.started_at}
    data["phase_results"] = phases
    return json_response(data)


async def history(request: web.Request) -> web.Response:
    """Every evaluation of one experiment, oldest first (thinned to a bounded number of points
    for a long experiment), for a chart of the lift and its interval over time."""
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    experiment_view(gw.router.config, key)
    points = await gw.redis_guard.read(lambda: read_history(gw.redis, gw.keys, key))
    return json_response({"experiment": key, "points": points})


async def chart(request: web.Request) -> web.Response:
    """The lift of each arm with its interval over time, drawn as SVG (for the dashboard), its
    phase changes and ramp steps marked."""
    gw = request.app[GATEWAY]
    key = request.match_info["key"]
    view = experiment_view(gw.router.config, key)

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        points = await read_history(gw.redis, gw.keys, key)
        since = points[0]["ts"] if points else None
        return points, [] if since is None else await _audit_since(gw, since)

    points, audit = await gw.redis_guard.read(read)
    interleaved = gw.router.config.experiment(key).interleaved
    what = (
        "users' preference for each version over the control" if interleaved else "lift of each arm"
    )
    marks = chart_marks(points, view.get("phases") or (), audit, key)
    return web.Response(
        text=lift_chart(points, f"{what} of {key} over time", marks),
        content_type="image/svg+xml",
    )


async def _audit_since(gw: Any, since: float) -> list[dict[str, Any]]:
    """The audit entries from ``since`` on, oldest first, at most MAX_AUDIT_SCAN of them."""
    found: list[dict[str, Any]] = []
    bottom = str(int(since * 1000))
    while len(found) < MAX_AUDIT_SCAN:
        page: Any = await gw.redis.xrange(
            gw.keys.audit, min=bottom, max="+", count=min(AUDIT_PAGE, MAX_AUDIT_SCAN - len(found))
        )
        found += [orjson.loads(fields[b"e"]) for _, fields in page]
        if len(page) < AUDIT_PAGE:
            break
        bottom = "(" + page[-1][0].decode()
    return found


async def dashboard(request: web.Request) -> web.FileResponse:
    """The results dashboard (its data come from the API with the person's token)."""
    return web.FileResponse(STATIC / "dashboard.html")


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dashboard")


MAX_PERIODS_SHOWN = 200


async def _bandit_view(gw: Any, key: str) -> dict[str, Any]:
    """A bandit's evaluation (over every period) and its periods: weights and units in each."""
    experiment = gw.router.config.experiment(key)
    raw = await gw.redis.hget(gw.keys.decisions, key)
    recorded = await gw.redis.hgetall(gw.keys.bandit_periods(key))
    weights = {int(k): orjson.loads(v) for k, v in recorded.items()}
    first = max(0, experiment.period + 1 - MAX_PERIODS_SHOWN)
    periods = []
    for p in range(first, experiment.period + 1):
        stats = await read_variant_stats(gw.redis, gw.keys, phase_stats_id(key, p))
        periods.append(
            {
                "period": p,
                "weights": weights.get(p),
                "units": {v.name: stats.get(v.name, EMPTY).users for v in experiment.variants},
            }
        )
    return {
        "period": experiment.period,
        "last_evaluation": None if raw is None else EvaluationRecord.from_json(raw).to_json(),
        "periods": periods,
        "periods_shown_from": first,
    }


def _count(request: web.Request) -> int:
    raw = request.query.get("count", "100")
    try:
        count = int(raw)
    except ValueError:
        raise RequestError("?count", f"expected an integer, got {raw[:40]!r}") from None
    if not 1 <= count <= MAX_AUDIT_COUNT:
        raise RequestError("?count", f"must be in [1, {MAX_AUDIT_COUNT}], got {count}")
    return count


async def audit(request: web.Request) -> web.Response:
    """The newest ``count`` entries that match the filters, each with its subjects. Reads the
    stream newest first in pages, from ``until`` back to ``since`` (stream ids are ms
    timestamps), scanning at most MAX_AUDIT_SCAN entries: ``scan_limited`` says the scan
    stopped there, so older matches may exist."""
    gw = request.app[GATEWAY]
    count = _count(request)
    wanted = AuditFilter.from_query(request.query)
    newest = "+" if wanted.until is None else str(int(wanted.until * 1000))
    oldest = "-" if wanted.since is None else str(int(wanted.since * 1000))

    async def read() -> tuple[list[dict[str, Any]], bool]:
        found: list[dict[str, Any]] = []
        top, scanned = newest, 0
        while scanned < MAX_AUDIT_SCAN:
            page: Any = await gw.redis.xrevrange(
                gw.keys.audit, max=top, min=oldest, count=min(AUDIT_PAGE, MAX_AUDIT_SCAN - scanned)
            )
            for entry_id, fields in page:
                entry = orjson.loads(fields[b"e"]) | {"id": entry_id.decode()}
                entry["subjects"] = subjects(entry)
                if wanted.matches(entry, entry["subjects"]):
                    found.append(entry)
                    if len(found) == count:
                        return found, False
            scanned += len(page)
            if len(page) < AUDIT_PAGE:
                return found, False
            top = "(" + page[-1][0].decode()
        return found, True

    entries, limited = await gw.redis_guard.read(read)
    return json_response({"entries": entries, "scan_limited": limited})


async def dead_letters(request: web.Request) -> web.Response:
    """What the worker could not count, newest first: each entry with why (an event whose item
    was not on its search's page, whose user is not its search's, malformed, ...)."""
    gw = request.app[GATEWAY]
    count = _count(request)

    async def read() -> list[dict[str, Any]]:
        entries: Any = await gw.redis.xrevrange(gw.keys.dead_letters, count=count)
        return [_dead_letter(entry_id, fields) for entry_id, fields in entries]

    return json_response({"entries": await gw.redis_guard.read(read)})


def _dead_letter(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    raw = fields.get(b"e", b"")
    try:
        event: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = raw.decode("utf-8", "replace")
    return {
        "id": entry_id.decode(),
        "ts": int(entry_id.split(b"-")[0]) / 1000.0,
        "error": fields.get(b"error", b"").decode("utf-8", "replace"),
        "stream": fields.get(b"stream", b"").decode("utf-8", "replace"),
        "entry": fields.get(b"id", b"").decode("utf-8", "replace"),
        "event": event,
    }
