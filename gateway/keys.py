"""The Redis key layout, in one place. Python code asks :class:`Keys` for names; the Lua
scripts that build names from a shard's tag use the same suffixes (:data:`LUA_KEYS`), so the
two cannot drift.

Every name carries a Redis Cluster hash tag (the part in braces), so that each script and
transaction touches one slot:

- the control plane (config, audit, registry, history, …) is ``{<prefix>}:…``, one slot;
- the data that grows with traffic is split into ``shards`` by user: ``{<prefix>.<n>}:…`` holds
  shard n's streams, its users' state, the searches they made, the events they sent and the
  per-variant sums of those users. Each experiment's statistics are the sum over the shards
  (integer sums add up). A single Redis holds every shard as well; a cluster spreads them over
  its masters. The shard count is fixed for a deployment (:data:`LAYOUT` records it): changing
  it would move users to other shards.
"""

from __future__ import annotations

import inspect
import zlib
from dataclasses import dataclass, field
from typing import Final

# Suffixes that the worker's Lua scripts join to the prefix (``p .. SEEN .. event_id``).
SEEN: Final = ":seen:"
SEARCH: Final = ":search:"
UNIT: Final = ":unit:"
STATS: Final = ":stats:"
ACTIVITY: Final = ":activity:"  # per user, over all experiments: the CUPED covariate's source
INTERLEAVING: Final = ":il:"  # per interleaved experiment phase: slots, team credits, pairs
# per user: the phase of each experiment they were last exposed in (purchases at checkout are
# attributed from it)
EXPOSED: Final = ":exposed:"
LUA_KEYS: Final = {
    "SEEN": SEEN,
    "SEARCH": SEARCH,
    "UNIT": UNIT,
    "STATS": STATS,
    "ACTIVITY": ACTIVITY,
    "IL": INTERLEAVING,
    "EXPOSED": EXPOSED,
}


def lua_key_constants() -> str:
    """Lua ``local`` lines defining the suffixes, prepended to each script."""
    return "".join(f"local K_{name} = '{value}'\n" for name, value in LUA_KEYS.items())


MAX_SHARDS: Final = 1024


def shard_of(user_id: str, shards: int) -> int:
    """The shard that holds ``user_id``'s state: CRC-32 of the id, modulo the shard count
    (stable across processes and languages, unlike Python's salted ``hash``)."""
    return zlib.crc32(user_id.encode()) % shards if shards > 1 else 0


@dataclass(frozen=True)
class ShardKeys:
    """The keys of one shard. ``tag`` is the hash-tagged prefix that every name starts with;
    the Lua scripts take it as ``KEYS[1]`` (which routes the call to the shard's node) and
    build the rest from it."""

    tag: str
    index: int

    @property
    def exposures(self) -> str:
        return f"{self.tag}:stream:exposures"

    @property
    def outcomes(self) -> str:
        return f"{self.tag}:stream:outcomes"

    def stats(self, experiment: str) -> str:
        """Hash: this shard's per-variant sums of an experiment phase (``variant:stat``)."""
        return f"{self.tag}{STATS}{experiment}"

    def interleaving(self, experiment: str) -> str:
        """Hash: this shard's sums of an interleaved experiment phase (gateway.worker.aggregates)."""
        return f"{self.tag}{INTERLEAVING}{experiment}"

    def unit(self, experiment: str, user: str) -> str:
        return f"{self.tag}{UNIT}{experiment}:{user}"

    def search(self, search_id: str) -> str:
        return f"{self.tag}{SEARCH}{search_id}"

    def seen(self, search_id: str, event_id: str | None = None) -> str:
        """String: an applied event, de-duplicated within its search (a search's exposure is
        ``event_id=None``). Search ids carry no ':' (gateway.search_ids), so the names of one
        search's exposure and of its events never meet, and event ids chosen by storefronts
        only ever meet within one search (one user, one shard)."""
        tail = "" if event_id is None else f":{event_id}"
        return f"{self.tag}{SEEN}{search_id}{tail}"

    def seen_checkout(self, user: str, event_id: str) -> str:
        """String: an applied purchase without a search id, de-duplicated per user. The name
        starts with ':' where a search id cannot (so it never meets a search's), and the
        user id's length in bytes keeps (user, event id) pairs apart whatever ':' they hold."""
        return f"{self.tag}{SEEN}:{len(user.encode())}:{user}:{event_id}"

    def exposed(self, user: str) -> str:
        """Hash, experiment key -> the stats id of the latest phase the user was exposed in
        (the unit of that phase holds the times of their first and last exposure in it)."""
        return f"{self.tag}{EXPOSED}{user}"

    def activity(self, user: str) -> str:
        return f"{self.tag}{ACTIVITY}{user}"


@dataclass(frozen=True)
class Keys:
    prefix: str
    shards: int = 1
    _shards: tuple[ShardKeys, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"shards: 1 to {MAX_SHARDS}, got {self.shards}")
        tags = tuple(ShardKeys(f"{{{self.prefix}.{n}}}", n) for n in range(self.shards))
        object.__setattr__(self, "_shards", tags)

    @property
    def all_shards(self) -> tuple[ShardKeys, ...]:
        return self._shards

    def shard(self, index: int) -> ShardKeys:
        return self._shards[index]

    def for_user(self, user_id: str) -> ShardKeys:
        return self._shards[shard_of(user_id, self.shards)]

    @property
    def base(self) -> str:
        """The control plane's tagged prefix: every control key is in this one slot."""
        return f"{{{self.prefix}}}"

    @property
    def layout(self) -> str:
        """String: the shard count this deployment's data was written with."""
        return f"{self.base}:layout:shards"

    # --- the routing config and its audit trail
    @property
    def config(self) -> str:
        return f"{self.base}:config"

    @property
    def version(self) -> str:
        return f"{self.base}:config:version"

    @property
    def audit(self) -> str:
        return f"{self.base}:audit"

    @property
    def tokens(self) -> str:
        """Hash, name → a token's role and SHA-256 (never the token itself)."""
        return f"{self.base}:tokens"

    @property
    def search_id_key(self) -> str:
        """String: the deployment's key that search ids are signed with (gateway.search_ids)."""
        return f"{self.base}:search-id-key"

    @property
    def channel(self) -> str:
        return f"{self.base}:config:changed"

    @property
    def production_history(self) -> str:
        """List, newest first: each change of production (who, when, why, from which experiment)."""
        return f"{self.base}:production:history"

    @property
    def seed_notice(self) -> str:
        """Set once when the seed file differs from the stored config, so one process says so."""
        return f"{self.base}:config:seed-notice"

    # --- the model registry
    @property
    def models(self) -> str:
        """Hash: model version -> its card (JSON)."""
        return f"{self.base}:models"

    @property
    def models_channel(self) -> str:
        return f"{self.base}:models:changed"

    @property
    def gateways(self) -> str:
        """Hash: gateway process id -> its heartbeat (JSON: time, loaded versions)."""
        return f"{self.base}:gateways"

    @property
    def gate_datasets(self) -> str:
        """Hash: model version -> the dataset id its pending re-gate runs on (until recorded)."""
        return f"{self.base}:models:gate-dataset"

    # --- evaluation datasets and the gates' policy
    @property
    def datasets(self) -> str:
        """Hash: dataset id -> its metadata (JSON: sha256, sizes, feature names, who, when)."""
        return f"{self.base}:datasets"

    @property
    def gate_policy(self) -> str:
        """String: the gates' thresholds (JSON); absent until first set (the settings' default)."""
        return f"{self.base}:gate-policy"

    # --- approvals (gateway.control.approval_store)
    @property
    def approval_policy(self) -> str:
        """String: which changes need a second admin (JSON); absent: none (the default)."""
        return f"{self.base}:approval-policy"

    @property
    def approvals(self) -> str:
        """Hash: approval id -> a change held for a second admin, and what became of it (JSON)."""
        return f"{self.base}:approvals"

    @property
    def approvals_open(self) -> str:
        """Hash: what a held change is about (the decision loop's: one per experiment) -> the
        id of its latest request, so the loop asks once."""
        return f"{self.base}:approvals:open"

    # --- events and statistics
    @property
    def dead_letters(self) -> str:
        """Stream of entries the worker could not apply, with the reason (never silently dropped)."""
        return f"{self.base}:stream:dead"

    @property
    def decisions(self) -> str:
        return f"{self.base}:decisions"

    def evaluation_history(self, key: str) -> str:
        """List, oldest first: one point per evaluation of an experiment, over every phase."""
        return f"{self.base}:history:{key}"

    def bandit_periods(self, key: str) -> str:
        """Hash: a bandit's period number -> the weights in force in it (JSON), for SRM."""
        return f"{self.base}:bandit:{key}:periods"

    @property
    def expired(self) -> str:
        """Set: concluded experiments whose per-user keys have been given their time to live."""
        return f"{self.base}:units-expired"

    @property
    def started(self) -> str:
        """Hash: experiment key -> wall-clock time the worker first saw it running."""
        return f"{self.base}:started"

    def shadow(self, version: str) -> str:
        """Hash: the summed shadow figures of one version (gateway.ops.agreement.report)."""
        return f"{self.base}:shadow:{version}"

    def features_seen(self, hour: int) -> str:
        """Hash, one per hour (unix time // 3600, expiring after a day): feature name -> the
        searches that carried it; ``SEARCHED_FIELD``: every search (gateway.ops.meter)."""
        return f"{self.base}:features-seen:{hour}"

    def ops(self, stats_id: str) -> str:
        """Hash: the gateways' operational counts for one experiment phase, by variant."""
        return f"{self.base}:ops:{stats_id}"

    # --- webhooks (gateway.webhooks)
    @property
    def webhooks(self) -> str:
        """Hash: endpoint name -> its registration (JSON: url, events, secret, who, when)."""
        return f"{self.base}:webhooks"

    @property
    def webhook_cursor(self) -> str:
        """String: the id of the last audit entry the dispatcher turned into deliveries."""
        return f"{self.base}:webhooks:cursor"

    @property
    def webhook_pending(self) -> str:
        """Hash: delivery id -> a delivery not yet delivered nor given up (JSON, its body)."""
        return f"{self.base}:webhooks:pending"

    @property
    def webhook_alerts(self) -> str:
        """Hash: experiment phase (stats id) -> the alerts its last evaluation raised (JSON)."""
        return f"{self.base}:webhooks:alerts"

    @property
    def webhook_lease(self) -> str:
        """String, expiring: the worker whose dispatcher sends (one at a time)."""
        return f"{self.base}:webhooks:lease"

    def webhook_log(self, name: str) -> str:
        """List, newest first, bounded: one endpoint's delivery attempts (JSON)."""
        return f"{self.base}:webhooks:log:{name}"


# --- what a backup holds (gateway.backup)
# Every control-plane name of Keys, by attribute, is either kept in a backup (it cannot be
# rebuilt) or left out for the reason given; tests/test_keys.py fails when one is in neither (or
# both), so a new control-plane key cannot be forgotten silently. The shards' keys (the event
# streams, the per-variant sums, per-user state) are data that grows with traffic: Redis
# persistence keeps them, not a backup (docs/operations.md#backups).
BACKED_UP: Final = frozenset(
    {
        "layout",  # the shard count the deployment's data was written with
        "config",
        "version",
        "audit",
        "production_history",
        "tokens",  # names, roles and SHA-256 hashes, never a token
        "search_id_key",  # a secret: search ids issued before the backup still verify
        "models",  # the cards, gate results and states (the ONNX files go in as artefacts)
        "gate_datasets",
        "datasets",  # the metadata (the files go in as artefacts)
        "gate_policy",
        "approval_policy",
        "approvals",
        "approvals_open",
        "decisions",  # the latest evaluation of each phase: why it was decided
        "evaluation_history",
        "bandit_periods",  # a bandit's past weights: its sample-ratio check needs them
        "started",  # when the worker first saw each phase: minimum runtimes and ramps count from it
        "expired",
        "webhooks",  # holds the endpoints' signing secrets
        "webhook_cursor",
        "webhook_pending",
        "webhook_alerts",
        "webhook_log",
    }
)
NOT_BACKED_UP: Final = {
    "channel": "a pub/sub channel: nothing is stored under it",
    "models_channel": "a pub/sub channel: nothing is stored under it",
    "seed_notice": "a 30-second marker that one process has said the seed file differs",
    "gateways": "heartbeats of the live gateway processes: each writes its own every second",
    "webhook_lease": "an expiring lease of the dispatching worker: the next worker takes it",
    "features_seen": "hourly counts of the features searches carried, expiring after a day",
    "dead_letters": "a stream of events the worker could not count: traffic data, like the "
    "event streams (Redis persistence keeps it)",
    "shadow": "sums of shadow scoring over live traffic: data that grows with traffic, like "
    "the per-variant sums (Redis persistence keeps them)",
    "ops": "the gateways' operational counts per experiment phase: sums over traffic, like "
    "the per-variant sums (Redis persistence keeps them)",
}


def control_plane(keys: Keys) -> dict[str, str]:
    """Every control-plane name of ``keys`` (in the slot of ``keys.base``), by the attribute of
    :class:`Keys` that gives it; a name built from an argument is given as its glob pattern
    (the argument ``*``)."""
    names: dict[str, str] = {}
    for attr, member in vars(Keys).items():
        if attr.startswith("_"):
            continue
        if isinstance(member, property):
            value = getattr(keys, attr)
        elif inspect.isfunction(member) and _builds_a_name(member):
            value = member(keys, "*")
        else:
            continue
        if isinstance(value, str) and value.startswith(f"{keys.base}:"):
            names[attr] = value
    return names


def _builds_a_name(method: object) -> bool:
    """A method of one argument that returns a ``str`` (a name built from the argument)."""
    signature = inspect.signature(method)  # type: ignore[arg-type]
    return signature.return_annotation in ("str", str) and len(signature.parameters) == 2
