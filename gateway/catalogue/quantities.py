"""The per-user quantities whose sums over an arm's users the worker keeps: the one source of
the sums names that the Lua scripts write (:mod:`gateway.catalogue.lua`), the readers add up
(:mod:`gateway.catalogue.sums`) and the estimators read (:mod:`gateway.catalogue.metrics`).

A quantity is a per-user value: its sum over the arm's users is kept (``clicks``), with its
square's sum (``clicks_sq``) unless the value is binary, and the sums of its products with
other quantities (:class:`Cross`, ``clicks_x_searches``): exactly what a mean, a ratio of
means (the delta method) or a CUPED adjustment needs. Each quantity says how events move it
(``on``: an event type -> a Lua expression of the increment, evaluated by the scripts with
the event's context, see :data:`LUA_CONTEXT`), where the unit hash keeps the user's raw value,
and the cap at which the value enters the sums (winsorised, so that squares stay exact).

Adding a metric on a new per-user value is one :class:`Quantity` here (and its crosses) and
one :class:`gateway.catalogue.metrics.Metric`: the scripts, the checks and the readers
follow from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

# What moves a quantity: each exposure of the user (a search shown), the user's first exposure
# in the phase, and the outcomes the storefront sends.
Trigger = Literal["exposure", "first_exposure", "click", "add_to_cart", "purchase"]
TRIGGERS: Final[tuple[Trigger, ...]] = (
    "exposure",
    "first_exposure",
    "click",
    "add_to_cart",
    "purchase",
)
# What an increment's Lua expression may read: the user's current (capped) values by quantity
# name (v.<name>), the event's position (0 first), whether it is its search's first click, the
# purchase's value in cents, and the user's activity before the phase (capped) at their first
# exposure. SCALE and DCG_K are gateway.worker.aggregates' constants.
LUA_CONTEXT: Final = ("v", "position", "first_click", "cents", "pre_p", "pre_r", "SCALE", "DCG_K")

# A user's values enter the sums capped here (winsorised): squares of capped values stay
# below 2**53, where Lua's doubles hold integers exactly. The raw value is kept on the unit.
USER_VALUE_CAP: Final = 90_000_000
# Sums the evaluator reads besides the quantities': the arm's users, and events of its users
# past a per-user cap (gateway.worker.aggregates.EventCaps).
USERS: Final = "users"
CAPPED: Final = "capped"


@dataclass(frozen=True)
class Quantity:
    """A per-user value whose sums over an arm's users are kept."""

    name: str  # its sum's name in an arm's sums (and the stem of its square's)
    on: Mapping[Trigger, str]  # event -> the Lua expression of its increment
    unit_field: str = ""  # where the unit hash keeps the user's raw value ("": name)
    binary: bool = False  # 0 or 1 per user: its square is itself (no _sq sum)
    cap: int | None = None  # the value enters the sums capped at this (winsorised)
    # checked against the largest sum Redis holds before an event moves it (the one whose
    # square's sum can come near it: revenue in cents)
    guarded: bool = False
    at_most: str | None = None  # its sum can never exceed this one's (a sums check)
    doc: str = ""

    @property
    def field(self) -> str:
        return self.unit_field or self.name

    @property
    def square(self) -> str | None:
        return None if self.binary else f"{self.name}_sq"


@dataclass(frozen=True)
class Cross:
    """The sum over users of x · y: a ratio's or a covariate's cross moment."""

    x: str
    y: str
    name: str = ""

    @property
    def sum_name(self) -> str:
        return self.name or f"{self.x}_x_{self.y}"


# The order is the order the sums are listed in (documents, API answers).
QUANTITIES: Final[tuple[Quantity, ...]] = (
    Quantity("searches", {"exposure": "1"}, doc="searches shown to the user"),
    Quantity(
        "converters",
        {"purchase": "1 - v.converters"},
        unit_field="converted",
        binary=True,
        at_most=USERS,
        doc="1 once the user bought (on a search, or at checkout within the window)",
    ),
    Quantity(
        "revenue_cents",
        {"purchase": "cents"},
        cap=USER_VALUE_CAP,
        guarded=True,
        doc="what the user spent, in cents",
    ),
    Quantity("clicks", {"click": "1"}, doc="clicks"),
    Quantity(
        "clicked_searches",
        {"click": "first_click and 1 or 0"},
        doc="searches with at least one click (one minus abandonment)",
        cap=USER_VALUE_CAP,
        at_most="searches",
    ),
    Quantity(
        "rr",
        {"click": "first_click and math.floor(SCALE / (position + 1) + 0.5) or 0"},
        doc="reciprocal rank 1/(position+1) of each search's first click, in thousandths",
        cap=USER_VALUE_CAP,
    ),
    Quantity(
        "dcg",
        {
            "click": "position < DCG_K and math.floor(SCALE * math.log(2) / "
            "math.log(position + 2) + 0.5) or 0"
        },
        doc="each click at position p < 10 adds 1/log2(p+2): DCG@10 of clicks, in thousandths",
        cap=USER_VALUE_CAP,
    ),
    Quantity("carts", {"add_to_cart": "1"}, doc="add-to-carts"),
    Quantity("purchases", {"purchase": "1"}, doc="purchases (on a search or at checkout)"),
    Quantity(
        "rrc",
        {"click": "math.floor(SCALE / (position + 1) + 0.5)"},
        cap=USER_VALUE_CAP,
        doc="reciprocal rank of every click, in thousandths (where the clicks land)",
    ),
    # CUPED's covariates (Deng et al. 2013): the user's purchases and revenue (whole units)
    # before their first exposure to the phase, capped when copied onto the unit.
    Quantity(
        "pre_purchases",
        {"first_exposure": "pre_p"},
        unit_field="pre_p",
        doc="purchases before the first exposure (capped at 1 000)",
    ),
    Quantity(
        "pre_revenue",
        {"first_exposure": "pre_r"},
        unit_field="pre_r",
        doc="revenue before the first exposure, whole units (capped at 100 000)",
    ),
)

CROSSES: Final[tuple[Cross, ...]] = (
    Cross("clicks", "searches"),
    Cross("revenue_cents", "searches", "revenue_x_searches"),
    Cross("converters", "pre_purchases", "converters_x_pre"),
    Cross("revenue_cents", "pre_revenue", "revenue_x_pre"),
    Cross("clicked_searches", "searches"),
    Cross("rr", "searches"),
    Cross("dcg", "searches"),
    Cross("carts", "searches"),
    Cross("rrc", "clicks"),
    # the search funnel's steps: add-to-carts per click, purchases per add-to-cart
    Cross("carts", "clicks"),
    Cross("purchases", "carts"),
)


@dataclass(frozen=True)
class Catalogue:
    """Quantities and their crosses: what the scripts keep and the estimators read."""

    quantities: tuple[Quantity, ...] = QUANTITIES
    crosses: tuple[Cross, ...] = CROSSES
    by_name: Mapping[str, Quantity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {q.name: q for q in self.quantities}
        if len(by_name) != len(self.quantities):
            raise ValueError("catalogue: two quantities share a name")
        for q in self.quantities:
            if not q.on:
                raise ValueError(f"quantity {q.name!r}: no event moves it ('on' is empty)")
            if q.at_most is not None and q.at_most != USERS and q.at_most not in by_name:
                raise ValueError(f"quantity {q.name!r}: at_most names {q.at_most!r}, unknown")
        for c in self.crosses:
            for side in (c.x, c.y):
                if side not in by_name:
                    raise ValueError(f"cross {c.sum_name!r}: {side!r} is no quantity")
        object.__setattr__(self, "by_name", by_name)
        names = self.sum_names
        if len(set(names)) != len(names):
            raise ValueError(f"catalogue: sums names collide: {sorted(names)}")

    @property
    def sum_names(self) -> tuple[str, ...]:
        """Every sum an arm keeps, in order."""
        out = [USERS]
        for q in self.quantities:
            out.append(q.name)
            if q.square:
                out.append(q.square)
        out.extend(c.sum_name for c in self.crosses)
        out.append(CAPPED)
        return tuple(out)

    def crosses_of(self, name: str) -> list[tuple[str, str]]:
        """(cross sum, the other quantity) for each cross that quantity ``name`` is in."""
        out = []
        for c in self.crosses:
            if c.x == name:
                out.append((c.sum_name, c.y))
            if c.y == name:
                out.append((c.sum_name, c.x))
        return out

    def expected_sums(self, users: Sequence[Mapping[str, int]]) -> dict[str, int]:
        """The sums an arm keeps for these users' (capped) values: a recount's reference."""
        out = dict.fromkeys(self.sum_names, 0)
        out[USERS] = len(users)
        for u in users:
            for q in self.quantities:
                x = min(u.get(q.name, 0), q.cap) if q.cap is not None else u.get(q.name, 0)
                out[q.name] += x
                if q.square:
                    out[q.square] += x * x
            for c in self.crosses:
                out[c.sum_name] += self._capped(c.x, u) * self._capped(c.y, u)
        return out

    def _capped(self, name: str, user: Mapping[str, int]) -> int:
        q = self.by_name[name]
        x = user.get(name, 0)
        return min(x, q.cap) if q.cap is not None else x


CATALOGUE: Final = Catalogue()
SUM_NAMES: Final = CATALOGUE.sum_names
