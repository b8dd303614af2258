"""An exact always-valid sign test of per-user preferences.

Under H0 (no ranker is preferred) team-draft interleaving makes a user's preference as likely
positive as negative: which ranker places an item at a competitive slot is a fair coin, so the
signs of the users' non-zero preferences are fair coin flips, exactly, at any sample size.
Against the alternative "P(positive) = θ ≠ ½" with θ ~ Beta(a, a), the mixture likelihood
ratio after S positive and F negative users,

    Λ(S, F) = B(a + S, a + F) / B(a, a) · 2^(S + F),                            (1)

is a nonnegative martingale with mean 1 under H0 (Robbins, "Statistical methods related to
the law of the iterated logarithm", Ann. Math. Statist. 1970, §3), so by Ville's inequality
(Ville 1939) P(sup_n Λ ≥ 1/α) ≤ α: rejecting the first time Λ ≥ 1/α is valid however often
one looks, with no minimum sample size and no asymptotics. 1 / max Λ so far is the always-
valid p-value (Johari, Koomen, Pekelis & Walsh, "Always valid inference", Oper. Res. 2022,
§3). With a = 1 (uniform), (1) is 2^n · S! F! / (n + 1)!, n = S + F.

The argument needs each user's sign to be final when it is counted: the worker counts a user
once their searches are over (inactive for the experiment's ``settle_s``), never again. A sign
counted as it stands and moved back by a later search would break it: removing a uniformly
chosen user from the counts raises E[Λ] by (n + 1)/n, so the counts' Λ is a submartingale
(the validation study, sim/interleaving, measures both ways of counting).
"""

from __future__ import annotations

import math


def log_lr(positive: int, negative: int, a: float = 1.0) -> float:
    """log Λ of (1)."""
    if positive < 0 or negative < 0:
        raise ValueError(f"counts must be >= 0, got {positive}, {negative}")
    if not a > 0:
        raise ValueError(f"the Beta mixture's a must be > 0, got {a}")

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    n = positive + negative
    return log_beta(a + positive, a + negative) - log_beta(a, a) + n * math.log(2.0)


def p_value(positive: int, negative: int, a: float = 1.0, previous: float = 1.0) -> float:
    """The always-valid p-value: min(previous, 1 / Λ) (pass the last one to keep it monotone)."""
    return min(previous, 1.0, math.exp(-log_lr(positive, negative, a)))
