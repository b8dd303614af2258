"""From a routing snapshot and a unit id to the variant and model version that serve it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.config import INTERLEAVED_ARM, Experiment, RoutingConfig, Variant
from gateway.config.holdout import HOLDOUT_ARM, REST_ARM
from gateway.errors import NoProduction
from gateway.router.bucketing import BucketRange, bucket_ranges, choose_variant
from gateway.router.hashing import unit_hash
from gateway.router.holdout import held_out


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: str
    model_version: str
    phase: int = 0


@dataclass(frozen=True)
class Route:
    """What serves one query: the model version and the assignments to record.

    ``interleave`` (an interleaved experiment's variants, in order: team i is variant i) asks
    for a page merged from every one of their versions; ``model_version`` is then the first
    variant's.

    ``holdout`` is the user's arm of the running holdout (its stats id, ``holdout`` or
    ``rest``), recorded with the exposure beside ``assignments`` (the experiments'); None
    while there is none. A held-out user has no experiment assignment."""

    model_version: str
    assignments: tuple[Assignment, ...]
    interleave: tuple[Variant, ...] = ()
    holdout: Assignment | None = None


@dataclass(frozen=True)
class _CompiledExperiment:
    experiment: Experiment
    ranges: tuple[BucketRange, ...]


class Router:
    """An immutable, precompiled view of one ``RoutingConfig``."""

    def __init__(self, config: RoutingConfig, version: int = 0) -> None:
        self.config = config
        self.version = version
        self._compiled = tuple(
            _CompiledExperiment(e, tuple(bucket_ranges(_weights(e), e.coverage)))
            for e in config.running
        )

    @property
    def production(self) -> str:
        """The production version; :class:`NoProduction` in a deployment without one yet."""
        if self.config.production is None:
            raise NoProduction()
        return self.config.production

    def assign(self, experiment: Experiment, ranges: tuple[BucketRange, ...], unit_id: str) -> int:
        """Variant index for ``unit_id`` in ``experiment``, or -1 if not covered."""
        n = unit_hash(experiment.hash_seed, unit_id, experiment.hash_version)
        if n is None:
            return -1
        return choose_variant(n, ranges)

    def route(self, unit_id: str) -> Route:
        """The model version for ``unit_id`` and the assignments it implies.

        A user held out by the running holdout gets its baseline version and no experiment;
        everyone else is routed as if there were no holdout, tagged with its ``rest`` arm.
        """
        holdout = self.config.holdout
        if holdout is None or not holdout.active:
            return self._route(unit_id)
        if held_out(holdout, unit_id):
            tag = Assignment(holdout.stats_id, HOLDOUT_ARM, holdout.version)
            return Route(holdout.version, (), holdout=tag)
        route = self._route(unit_id)
        return replace(route, holdout=Assignment(holdout.stats_id, REST_ARM, route.model_version))

    def _route(self, unit_id: str) -> Route:
        """Running experiments share one namespace (disjoint ranges, checked at
        validation), so a unit is in at most one ranking experiment; drafts and
        concluded experiments route nobody, so their users get production
        (:class:`NoProduction` while the deployment has none: no experiment runs then).
        """
        if self._compiled:
            ns = unit_hash("__" + self.config.namespace_id, unit_id, 1)
            for compiled in self._compiled:
                start, end = compiled.experiment.namespace_range
                if ns is not None and start <= ns < end:
                    index = self.assign(compiled.experiment, compiled.ranges, unit_id)
                    if index < 0:
                        break
                    experiment = compiled.experiment
                    if experiment.interleaved:
                        first = experiment.control.model_version
                        assignment = Assignment(
                            experiment.key, INTERLEAVED_ARM, first, experiment.phase
                        )
                        return Route(first, (assignment,), experiment.variants)
                    variant = compiled.experiment.variants[index]
                    assignment = Assignment(
                        compiled.experiment.key,
                        variant.name,
                        variant.model_version,
                        compiled.experiment.phase,
                    )
                    return Route(variant.model_version, (assignment,))
        return Route(self.production, ())


def _weights(experiment: Experiment) -> list[float]:
    """An interleaved experiment has one arm: covered users see every variant."""
    return [1.0] if experiment.interleaved else [v.weight for v in experiment.variants]
