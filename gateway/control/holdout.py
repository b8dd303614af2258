"""Pure changes of the deployment's holdout (:mod:`gateway.config.holdout`): begin one, end it.

Each takes the current :class:`RoutingConfig` and returns the next one, or raises
:class:`Conflict` (a holdout is already running; none to end) or :class:`ConfigError` naming
the field. Whether the baseline version is registered, has passed its gates and is loaded in
every gateway is the caller's check (the same as for production), as for every change.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from gateway.config import RoutingConfig, validate_routing
from gateway.config.holdout import Holdout
from gateway.config.parse import parse_holdout
from gateway.errors import ConfigError, Conflict, NotFound


def begin_holdout(
    config: RoutingConfig,
    version: str,
    share: float,
    now: float,
    window_s: float | None = None,
    seed: str = "",
    attribution_window_s: float | None = None,
) -> RoutingConfig:
    """Hold ``share`` of the users on ``version`` from ``now`` (for ``window_s`` seconds, or
    until it is ended by hand). A running holdout is never changed in place: its users and
    its sums are fixed for its whole window, so another one begins only once it has ended."""
    current = config.holdout
    if current is not None and current.active:
        raise Conflict(
            f"a holdout of {current.share:g} on {current.version!r} has run since "
            f"{_when(current.started_at)} ({current.stats_id}); end it first "
            "(DELETE /v1/holdout): a running holdout's users and share never change"
        )
    if window_s is not None and not window_s > 0:
        raise ConfigError("window_s", f"must be above 0, got {window_s!r}")
    data: dict[str, Any] = {
        "version": version,
        "share": share,
        "started_at": now,
        "ends_at": None if window_s is None else now + window_s,
        "seed": seed,
    }
    if attribution_window_s is not None:
        data["attribution_window_s"] = attribution_window_s
    if current is not None and Holdout(version, share, now).stats_id == current.stats_id:
        raise Conflict(
            f"the holdout that ended has the same statistics id ({current.stats_id}); begin "
            "the next one a second later"
        )
    updated = replace(config, holdout=parse_holdout(data, "holdout"))
    validate_routing(updated)
    return updated


def end_holdout(config: RoutingConfig, now: float) -> RoutingConfig:
    """The holdout's users are routed as everyone else from ``now``; its report stays."""
    current = config.holdout
    if current is None or not current.active:
        raise NotFound("no holdout is running (PUT /v1/holdout begins one)")
    return replace(config, holdout=replace(current, ended_at=now))


def window_over(config: RoutingConfig, now: float) -> bool:
    """The running holdout's window has passed: the worker ends it (its planned end)."""
    h = config.holdout
    return h is not None and h.active and h.ends_at is not None and now >= h.ends_at


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
