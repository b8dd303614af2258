"""Where a model version is in use, in the words of the audit trail's subjects: production,
an experiment that is not over (a draft, running or paused one: each arm's version), a shadow,
the running holdout's baseline.
A version in use is not retired (409), and the dashboard offers no "Retire" for it."""

from __future__ import annotations

from gateway.config.model import RoutingConfig

# An experiment in one of these holds its versions; concluded and archived ones do not.
HOLDING_STATUSES = frozenset({"draft", "running", "paused"})


def version_uses(config: RoutingConfig, version: str) -> tuple[str, ...]:
    """``"production"``, ``"experiment:KEY"`` for each experiment not over that names the
    version in an arm, ``"shadow:VERSION"`` while it runs in shadow, ``"holdout"`` while a
    running holdout keeps users on it; empty when unused."""
    uses: list[str] = []
    if config.production == version:
        uses.append("production")
    uses += [
        f"experiment:{e.key}"
        for e in config.experiments
        if e.status in HOLDING_STATUSES and version in e.model_versions
    ]
    if version in config.shadow_versions():
        uses.append(f"shadow:{version}")
    if config.holdout is not None and config.holdout.active and config.holdout.version == version:
        uses.append("holdout")
    return tuple(uses)
