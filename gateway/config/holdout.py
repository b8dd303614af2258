"""The deployment-level holdout: a fixed share of users kept on a frozen baseline version for a
long window, measured against everyone else (the rest), so that the cumulative lift of every
promotion since it began is known.

A held-out user gets the baseline version for every search and is in no experiment; everyone
else is routed as if there were no holdout. Which users are held out is a pure function of the
user id and the holdout's own seed (:mod:`gateway.router.holdout`), so it is sticky across
processes, restarts, production moves and experiments. Its statistics are kept under
``stats_id`` as an experiment phase's are, with two arms, ``holdout`` and ``rest``. Its stats
id, ``holdout~<started_at>``, holds a '~', which no experiment key does
(:data:`gateway.config.parse.KEY_RE`): the two never share sums, and no experiment's per-user
key pattern (``unit:<key>:*``, ``unit:<key>@*``, the retention's scan) matches the holdout's.
Not ':' (an experiment keyed "holdout" would match ``unit:holdout:*``), nor '@' (a phase's
separator), nor a leading '_' (the exposure script's own fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HOLDOUT_ARM: Final = "holdout"
REST_ARM: Final = "rest"
# At most a fifth of the users are kept from every improvement: a holdout is a measurement,
# and each held-out user pays its cost.
MAX_HOLDOUT_SHARE: Final = 0.2
# The holdout's users are hashed as an experiment's are (GrowthBook's hash v2).
HOLDOUT_HASH_VERSION: Final = 2


@dataclass(frozen=True)
class Holdout:
    """Users whose hash under ``hash_seed`` is below ``share`` get ``version`` from
    ``started_at`` until it ends (``ended_at``: by hand, or by the worker once ``ends_at`` has
    passed). An ended holdout routes nobody; it stays in the config, with its report, until
    another one replaces it."""

    version: str
    share: float
    started_at: float
    ends_at: float | None = None
    ended_at: float | None = None
    seed: str = ""
    attribution_window_s: float = 7 * 24 * 3600

    @property
    def stats_id(self) -> str:
        """Whose sums its exposures and outcomes add to: ``holdout~<started_at, whole s>``."""
        return f"holdout~{int(self.started_at)}"

    @property
    def hash_seed(self) -> str:
        return self.seed or self.stats_id

    @property
    def active(self) -> bool:
        """Routing users: it has not ended."""
        return self.ended_at is None
