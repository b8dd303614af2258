"""The Redis key layout, in one place. Python code asks :class:`Keys` for names; the Lua
scripts that build names from a prefix use the same suffixes (:data:`LUA_KEYS`), so the
two cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Suffixes that the worker's Lua scripts join to the prefix (``p .. SEEN .. event_id``).
SEEN: Final = ":seen:"
SEARCH: Final = ":search:"
UNIT: Final = ":unit:"
STATS: Final = ":stats:"
ACTIVITY: Final = ":activity:"  # per user, over all experiments: the CUPED covariate's source
INTERLEAVING: Final = ":il:"  # per interleaved experiment phase: slots, team credits, pairs
LUA_KEYS: Final = {
    "SEEN": SEEN,
    "SEARCH": SEARCH,
    "UNIT": UNIT,
    "STATS": STATS,
    "ACTIVITY": ACTIVITY,
    "IL": INTERLEAVING,
}


def lua_key_constants() -> str:
    """Lua ``local`` lines defining the suffixes, prepended to each script."""
    return "".join(f"local K_{name} = '{value}'\n" for name, value in LUA_KEYS.items())


@dataclass(frozen=True)
class Keys:
    prefix: str

    # --- the routing config and its audit trail
    @property
    def config(self) -> str:
        return f"{self.prefix}:config"

    @property
    def version(self) -> str:
        return f"{self.prefix}:config:version"

    @property
    def audit(self) -> str:
        return f"{self.prefix}:audit"

    @property
    def tokens(self) -> str:
        """Hash, name → a token's role and SHA-256 (never the token itself)."""
        return f"{self.prefix}:tokens"

    @property
    def channel(self) -> str:
        return f"{self.prefix}:config:changed"

    @property
    def production_history(self) -> str:
        """List, newest first: each change of production (who, when, why, from which experiment)."""
        return f"{self.prefix}:production:history"

    @property
    def seed_notice(self) -> str:
        """Set once when the seed file differs from the stored config, so one process says so."""
        return f"{self.prefix}:config:seed-notice"

    # --- the model registry
    @property
    def models(self) -> str:
        """Hash: model version -> its card (JSON)."""
        return f"{self.prefix}:models"

    @property
    def models_channel(self) -> str:
        return f"{self.prefix}:models:changed"

    @property
    def gateways(self) -> str:
        """Hash: gateway process id -> its heartbeat (JSON: time, loaded versions)."""
        return f"{self.prefix}:gateways"

    # --- events and statistics
    @property
    def exposures(self) -> str:
        return f"{self.prefix}:stream:exposures"

    @property
    def outcomes(self) -> str:
        return f"{self.prefix}:stream:outcomes"

    @property
    def dead_letters(self) -> str:
        """Stream of entries the worker could not apply, with the reason (never silently dropped)."""
        return f"{self.prefix}:stream:dead"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}:decisions"

    def evaluation_history(self, key: str) -> str:
        """List, oldest first: one point per evaluation of an experiment, over every phase."""
        return f"{self.prefix}:history:{key}"

    def bandit_periods(self, key: str) -> str:
        """Hash: a bandit's period number -> the weights in force in it (JSON), for SRM."""
        return f"{self.prefix}:bandit:{key}:periods"

    @property
    def expired(self) -> str:
        """Set: concluded experiments whose per-user keys have been given their time to live."""
        return f"{self.prefix}:units-expired"

    @property
    def started(self) -> str:
        """Hash: experiment key -> wall-clock time the worker first saw it running."""
        return f"{self.prefix}:started"

    def shadow(self, version: str) -> str:
        """Hash: the summed shadow figures of one version (gateway.ops.agreement.report)."""
        return f"{self.prefix}:shadow:{version}"

    def ops(self, stats_id: str) -> str:
        """Hash: the gateways' operational counts for one experiment phase, by variant."""
        return f"{self.prefix}:ops:{stats_id}"

    def stats(self, experiment: str) -> str:
        return f"{self.prefix}{STATS}{experiment}"

    def interleaving(self, experiment: str) -> str:
        """Hash: an interleaved experiment phase's sums (gateway.worker.aggregates)."""
        return f"{self.prefix}{INTERLEAVING}{experiment}"

    def unit(self, experiment: str, user: str) -> str:
        return f"{self.prefix}{UNIT}{experiment}:{user}"

    def search(self, search_id: str) -> str:
        return f"{self.prefix}{SEARCH}{search_id}"

    def seen(self, event_id: str) -> str:
        return f"{self.prefix}{SEEN}{event_id}"
