"""The experiment model: what an experiment and the routing config are, apart from how they
are parsed (:mod:`gateway.config.parse`) or stored (:mod:`gateway.config.encode`).

Lifecycle of an experiment::

    draft ──start──▶ running ──stop / promote / roll back──▶ concluded ──archive──▶ archived
      │               ▲  │                                    ▲
      │        resume │  │ pause (by hand, or by a freeze)    │ stop / promote by hand
      │               │  ▼                                    │
      │               paused ─────────────────────────────────┘
      └───────────────────────────archive────────────────────────────────────────────────▲

Only a running experiment routes anyone; everyone else gets ``production``. A paused one routes
nobody and counts nothing (its statistics so far are kept, and the time it spends paused does
not count as its runtime), but it keeps its namespace range and its versions, and resumes in
the same phase: its users get the arms they had.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal

from gateway.config.holdout import Holdout
from gateway.config.segments import Dimension

Status = Literal["draft", "running", "paused", "concluded", "archived"]
# Who paused an experiment: a person (it resumes when a person resumes it) or a freeze (it
# resumes when the freeze is lifted).
PausedBy = Literal["hand", "freeze"]
# promoted_to_ab: an interleaved experiment's winner went on to an A/B test (its key + "-ab").
Outcome = Literal["none", "promoted", "promoted_to_ab", "rolled_back", "inconclusive", "stopped"]
# The metrics an experiment may be decided or guarded on: gateway.catalogue.metrics defines
# each (estimator, direction, unit). Per user; the per-search ones are ratios of per-user sums
# (delta method). Higher is better for each but abandonment_rate (searches with no click,
# lower is better): click_through_rate is clicks per search, clicked_search_rate one minus
# abandonment (searches with no click), mrr_first_click the mean reciprocal rank of each
# search's first click, dcg_at_10 a click-based DCG@10 per search, mrr_clicks where the clicks
# land (the mean of 1/(position+1) over all clicks: a ratio over clicks). Click and cart
# metrics count events on the search they name; purchase_conversion and revenue_per_user count
# purchases on a search and at checkout (no search id) within the attribution window.
Metric = Literal[
    "purchase_conversion",
    "revenue_per_user",
    "click_through_rate",
    "clicked_search_rate",
    "carts_per_search",
    "mrr_first_click",
    "dcg_at_10",
    "mrr_clicks",
    "abandonment_rate",
    "revenue_per_search",
]
SequentialMethod = Literal["auto", "confidence-sequence", "msprt", "group-sequential"]
Correction = Literal["holm", "benjamini-hochberg", "bonferroni"]
Kind = Literal["ab", "bandit", "interleaving", "multileaving"]
INTERLEAVED_KINDS: Final = ("interleaving", "multileaving")
# The one arm of an interleaved experiment: its users see every variant on every page.
INTERLEAVED_ARM: Final = "interleaved"
Then = Literal["production", "ab"]
Credit = Literal["click", "add_to_cart", "purchase"]
BanditPolicy = Literal["thompson", "top-two-thompson", "ucb1"]
Reward = Literal["purchase_conversion", "click", "revenue_per_search"]

WEIGHT_SUM_TOLERANCE: Final = 1e-3
# An experiment promotes no sooner than this after it starts unless it says otherwise: one
# weekly cycle of a shop's traffic (weekdays and the weekend shop differently). The demo and the
# tests set their own.
DEFAULT_MIN_RUNTIME_S: Final = 7 * 86_400.0
# How long after a user's exposure a purchase without a search id (at checkout) still counts
# for their arm: a week by default (a shopping cycle), at least a minute, at most 90 days.
DEFAULT_ATTRIBUTION_WINDOW_S: Final = 7 * 24 * 3600
MIN_ATTRIBUTION_WINDOW_S: Final = 60
MAX_ATTRIBUTION_WINDOW_S: Final = 90 * 24 * 3600


@dataclass(frozen=True)
class Variant:
    name: str
    model_version: str
    weight: float


@dataclass(frozen=True)
class Guardrail:
    """The treatment may be at most ``margin`` (relative) worse on ``metric``."""

    metric: Metric
    margin: float


@dataclass(frozen=True)
class Phase:
    """A span of a running experiment with fixed weights. A weight change starts a new phase
    that re-randomises: its users are hashed with a seed of their own (``hash_seed``), and its
    statistics, SRM check and sequential test start afresh (``stats_id``)."""

    weights: tuple[float, ...]
    started_at: float


@dataclass(frozen=True)
class RampStep:
    """One step of a canary schedule: this coverage, held at least ``hold_s`` (None: the last)."""

    coverage: float
    hold_s: float | None = None


@dataclass(frozen=True)
class ShadowRequirement:
    """A shadow phase each treatment version must have passed before the experiment starts:
    at least ``min_searches`` shadowed searches, mean overlap@10 with production within
    ``[min_overlap, max_overlap]``, and at most ``max_error_rate`` failures."""

    min_searches: int = 500
    min_overlap: float = 0.0
    max_overlap: float = 1.0
    max_error_rate: float = 0.01


@dataclass(frozen=True)
class Analysis:
    """How an experiment is analysed and decided: what the worker reads, the router never."""

    primary_metric: Metric = "purchase_conversion"
    alpha: float = 0.05
    min_units_per_arm: int = 200
    guardrails: tuple[Guardrail, ...] = ()
    # "auto": group-sequential when a horizon is planned, else a confidence sequence
    # tuned to the units the minimum detectable effect needs.
    method: SequentialMethod = "auto"
    mde: float = 0.05
    horizon_units_per_arm: int | None = None
    looks: int = 100
    correction: Correction = "holm"
    min_runtime_s: float = DEFAULT_MIN_RUNTIME_S
    max_runtime_s: float | None = None
    # Operational guardrails (gateway.ops.guardrails): a treatment is rolled back at once when
    # its share of failed or timed-out scorings passes max_error_rate (judged once it has had
    # min_ops_requests scorings in the phase), or when an always-valid test at alpha finds its
    # p99 scoring time above max_latency_ratio times the control's (the margin; any look).
    max_error_rate: float = 0.02
    max_latency_ratio: float = 3.0
    min_ops_requests: int = 50
    # CUPED (Deng et al. 2013) on conversion and revenue, with each user's purchases or
    # revenue before their first exposure as the covariate, once any user has some.
    cuped: bool = True
    # Every other metric of the catalogue is tested for a significant harm (one-sided,
    # Bonferroni across them); a winner with one is not promoted (stats.decision).
    deterioration: bool = True
    # A purchase sent without a search id (at checkout) counts for the user's arm when the
    # user's exposure to the experiment is at most this long before it
    # (gateway.worker.aggregates); purchases with a search id count for that search's arm.
    attribution_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S


@dataclass(frozen=True)
class BanditSettings:
    """How the worker runs a bandit (``kind = "bandit"``).

    Every ``update_every_s`` it re-weights the arms under ``policy`` from each arm's
    ``reward`` so far (uniform until ``burn_in_units`` units; never below ``floor``), which
    starts a new *period* (re-randomised like a phase). It stops once one arm's posterior
    probability of being best reaches ``stop_probability`` after the analysis's
    ``min_runtime_s``: that arm's version becomes production.
    """

    policy: BanditPolicy = "thompson"
    reward: Reward = "purchase_conversion"
    floor: float = 0.05
    burn_in_units: int = 200
    update_every_s: float = 60.0
    stop_probability: float = 0.95


@dataclass(frozen=True)
class InterleavingSettings:
    """How the worker runs an interleaving (two versions) or multileaving (three to six)
    experiment (:mod:`gateway.interleave`).

    Every search of a user in the experiment shows one page merged by team draft from every
    version's ranking; each ``credit`` event (a click by default) on a slot counts for the
    version that placed its item. A purchase at checkout (no search id) names no page, so it
    credits no version, whatever ``credit`` says. A version preferred by significantly more
    users than not (the always-valid sign test, Holm across pairs) over every other one wins:
    ``then = "production"`` makes it production, ``then = "ab"`` starts an A/B test of it
    against the first variant's version to confirm the win on the experiment's primary metric.
    The first variant winning rolls the others back. Once ``min_slots`` slots have been shown, a share
    of competitive slots (where the versions' next items differed) below
    ``min_competitive_share`` stops the experiment as inconclusive: the versions rank alike.

    A user's preference counts once their searches are over: after ``settle_s`` without
    activity in the experiment (a session gap; their later searches are not counted), which
    keeps the sign test exact (:mod:`gateway.worker.aggregates`).
    """

    then: Then = "production"
    credit: Credit = "click"
    min_competitive_share: float = 0.02
    min_slots: int = 2000
    settle_s: float = 1800.0


# The fields of an experiment as a file or an API body gives them: flat, the analysis's among them.
ANALYSIS_FIELDS: Final = tuple(Analysis.__dataclass_fields__)


@dataclass(frozen=True)
class Experiment:
    """Who is in it and what they get (the router's part), its lifecycle, and its analysis."""

    key: str
    variants: tuple[Variant, ...]
    status: Status = "running"
    outcome: Outcome = "none"
    description: str = ""
    coverage: float = 1.0
    namespace_range: tuple[float, float] = (0.0, 1.0)
    hash_version: int = 2
    seed: str = ""
    analysis: Analysis = field(default_factory=Analysis)
    # Set when it starts and on each weight change while running; empty for a draft (and for
    # a running experiment seeded from a file: its weights are phase 0).
    phases: tuple[Phase, ...] = ()
    # A canary schedule: coverage steps the worker advances through once each step's hold has
    # passed with every guardrail holding. While one is set, coverage is its current step's.
    ramp: tuple[RampStep, ...] = ()
    ramp_step: int = 0
    ramp_step_started_at: float = 0.0  # 0: since the experiment (phase 0) started
    require_shadow: ShadowRequirement | None = None
    kind: Kind = "ab"
    bandit: BanditSettings | None = None  # set exactly when kind is "bandit"
    # A bandit's re-weightings: each one starts a period, its own phase (hash seed and
    # statistics), without growing ``phases`` (a bandit may re-weight thousands of times).
    period: int = 0
    period_started_at: float = 0.0
    interleaving: InterleavingSettings | None = None  # set exactly for the interleaved kinds
    # The evaluation dataset the treatments' gates must have passed on before it starts (an
    # id of POST /v1/datasets; re-gate a version on it: abgate models regate V --dataset D).
    dataset: str | None = None
    # While paused: since when (epoch seconds) and by whom; ``paused_s`` is the time it spent
    # in the pauses before (the current one is ``now - paused_at``).
    paused_at: float | None = None
    paused_by: PausedBy | None = None
    paused_s: float = 0.0

    @property
    def phase(self) -> int:
        """The current phase: 0 until the weights of the running experiment first change
        (for a bandit: its period)."""
        if self.bandit is not None:
            return self.period
        return max(0, len(self.phases) - 1)

    @property
    def hash_seed(self) -> str:
        """Phase 0 hashes with the experiment's seed (GrowthBook's); phase n with "seed:phase-n"."""
        base = self.seed or self.key
        return base if self.phase == 0 else f"{base}:phase-{self.phase}"

    @property
    def stats_id(self) -> str:
        """Whose statistics the current phase's exposures and outcomes add to."""
        return phase_stats_id(self.key, self.phase)

    @property
    def interleaved(self) -> bool:
        """Every search of a covered user is ranked by every variant and merged (team draft)."""
        return self.interleaving is not None

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def live(self) -> bool:
        """Running or paused: it holds its namespace range and its versions."""
        return self.status in ("running", "paused")

    def paused_total(self, now: float) -> float:
        """Every second it has been paused, up to ``now``."""
        current = 0.0 if self.paused_at is None else max(0.0, now - self.paused_at)
        return self.paused_s + current

    def active_clock(self, now: float) -> float:
        """``now`` less the time spent paused: the difference of two readings is the time it
        ran between them (its runtime for ``min_runtime_s`` and holds), pauses excluded."""
        return now - self.paused_total(now)

    @property
    def model_versions(self) -> frozenset[str]:
        return frozenset(v.model_version for v in self.variants)

    @staticmethod
    def field_names() -> tuple[str, ...]:
        """The flat field names of the file and API form."""
        own = tuple(f for f in Experiment.__dataclass_fields__ if f != "analysis")
        return own + ANALYSIS_FIELDS

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)


@dataclass(frozen=True)
class Shadow:
    """A version scored, off the response path, on a share of production's searches."""

    version: str
    share: float


def phase_stats_id(key: str, phase: int) -> str:
    """``key`` for phase 0 (as before phases existed), ``key@n`` after: '@' is never in a key."""
    return key if phase == 0 else f"{key}@{phase}"


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the router needs: one immutable snapshot.

    ``production`` serves everyone not in a running experiment; ``None`` in a deployment that
    has none yet (an empty store: its searches are refused until a version is set), where no
    experiment runs and no version is shadowed. ``frozen`` (set by a freeze) keeps every
    experiment from starting until it is lifted. ``holdout`` keeps a share of the users on a
    baseline version, outside every experiment (:mod:`gateway.config.holdout`).
    """

    production: str | None
    experiments: tuple[Experiment, ...] = field(default_factory=tuple)
    namespace_id: str = "ranking"
    frozen: bool = False
    shadows: tuple[Shadow, ...] = ()
    holdout: Holdout | None = None
    # what results are broken down by (gateway.config.segments)
    segments: tuple[Dimension, ...] = ()

    def experiment(self, key: str) -> Experiment:
        for experiment in self.experiments:
            if experiment.key == key:
                return experiment
        raise KeyError(key)

    def has(self, key: str) -> bool:
        return any(e.key == key for e in self.experiments)

    @property
    def running(self) -> tuple[Experiment, ...]:
        return tuple(e for e in self.experiments if e.running)

    @property
    def live(self) -> tuple[Experiment, ...]:
        """Running and paused experiments: their namespace ranges are taken."""
        return tuple(e for e in self.experiments if e.live)

    def routed_versions(self) -> frozenset[str]:
        """The model versions this config can send a search to."""
        versions = self._production() | self._holdout()
        for experiment in self.running:
            versions |= {v.model_version for v in experiment.variants if v.weight > 0}
        return frozenset(versions)

    def shadow_versions(self) -> frozenset[str]:
        return frozenset(s.version for s in self.shadows)

    def served_versions(self) -> frozenset[str]:
        """What a gateway must have loaded and warm: routed and shadow versions."""
        return self.routed_versions() | self.shadow_versions()

    def referenced_versions(self) -> frozenset[str]:
        """Versions production, a shadow, a draft or a running or paused experiment names: not
        to be retired, and loaded by every gateway."""
        versions = self._production() | set(self.shadow_versions()) | self._holdout()
        for experiment in self.experiments:
            if experiment.status in ("draft", "running", "paused"):
                versions |= experiment.model_versions
        return frozenset(versions)

    def _production(self) -> set[str]:
        return set() if self.production is None else {self.production}

    def _holdout(self) -> set[str]:
        """The baseline of a holdout that has not ended: its users are routed to it."""
        return {self.holdout.version} if self.holdout is not None and self.holdout.active else set()

    def with_experiment(self, updated: Experiment) -> RoutingConfig:
        if not self.has(updated.key):
            return replace(self, experiments=(*self.experiments, updated))
        experiments = tuple(updated if e.key == updated.key else e for e in self.experiments)
        return replace(self, experiments=experiments)
