"""Who is held out: a pure function of the user id and the holdout's own seed.

The user is hashed with the versioned unit hash (:func:`gateway.router.hashing.unit_hash`, hash
v2, GrowthBook's) under the holdout's seed, apart from every experiment's seed and the
namespace's: the held-out users are a uniform ``share`` of all users, the same in every
process and after every restart, and no production move or experiment changes them.
"""

from __future__ import annotations

from gateway.config.holdout import HOLDOUT_HASH_VERSION, Holdout
from gateway.router.hashing import unit_hash


def held_out(holdout: Holdout, unit_id: str) -> bool:
    """Whether ``unit_id`` is in the running ``holdout`` (never, once it has ended)."""
    if not holdout.active:
        return False
    n = unit_hash(holdout.hash_seed, unit_id, HOLDOUT_HASH_VERSION)
    return n is not None and n < holdout.share
