"""The deployment's segment dimensions: what results are broken down by (device, query class,
new vs returning shopper, category), each of bounded cardinality.

A dimension names its source and the values it keeps; any other value (or none) counts as
``other``, so a dimension has at most ``MAX_VALUES + 1`` segments whatever the storefront
sends:

- ``context.<key>``: the search's context field (``{"device": "mobile"}``), as a string;
- ``shopper``: ``new`` or ``returning``, set by the worker at the user's first exposure in a
  phase (returning: they bought before, as CUPED's covariate counts it);
- ``query_class``: ``head``, ``torso`` or ``tail`` by the query's frequency
  (:mod:`gateway.router.query_class`).

A user's segment in a phase is the one of their first exposure in it (sticky, as their arm),
so that a user's sums are counted once per dimension. Declared in the routing config
(``segments``) and changed by an audited change; a change applies to users first exposed
after it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.errors import ConfigError

MAX_DIMENSIONS: Final = 6
MAX_VALUES: Final = 12
OTHER: Final = "other"
SHOPPER: Final = "shopper"
SHOPPER_VALUES: Final = ("new", "returning")
QUERY_CLASS: Final = "query_class"
QUERY_CLASS_VALUES: Final = ("head", "torso", "tail")
CONTEXT: Final = "context."
NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# A value ends up in a Redis field name ("<variant>|<dimension>=<value>:<sum>"): no ':', '|',
# '=' or spaces.
VALUE_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
# Between a variant and its segments in an arm's name, and between segments on a unit.
SEGMENT_SEP: Final = "|"
# A segment the worker labels (shopper: new or returning) travels as "<name>=*".
WORKER_SETS: Final = "*"


@dataclass(frozen=True)
class Dimension:
    name: str
    source: str
    values: tuple[str, ...]

    def label(self, context: Mapping[str, Any]) -> str:
        """This search's value of the dimension (``other`` when unlisted); ``*`` when the
        worker sets it (``shopper``, from what the user bought before)."""
        if self.source == SHOPPER:
            return WORKER_SETS
        if self.source == QUERY_CLASS:
            raw = context.get(QUERY_CLASS)
        else:
            raw = context.get(self.source[len(CONTEXT) :])
        value = raw if isinstance(raw, str) else None
        return value if value in self.values else OTHER


def parse_dimensions(raw: Any, where: str) -> tuple[Dimension, ...]:
    """A list of ``{name, source, values}``; errors name the field and the value."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(where, f"expected a list of dimensions, got {raw!r}")
    if len(raw) > MAX_DIMENSIONS:
        raise ConfigError(where, f"at most {MAX_DIMENSIONS} dimensions, got {len(raw)}")
    out: list[Dimension] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(at, f"expected an object {{name, source, values}}, got {item!r}")
        unknown = sorted(set(item) - {"name", "source", "values"})
        if unknown:
            raise ConfigError(f"{at}.{unknown[0]}", "unknown field; allowed: name, source, values")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(f"{at}.name", f"must match {NAME_RE.pattern}, got {name!r}")
        if any(d.name == name for d in out):
            raise ConfigError(f"{at}.name", f"{name!r} is declared twice")
        source = item.get("source", f"{CONTEXT}{name}")
        fixed = {SHOPPER: SHOPPER_VALUES, QUERY_CLASS: QUERY_CLASS_VALUES}.get(source)
        if fixed is None and not (
            isinstance(source, str)
            and source.startswith(CONTEXT)
            and NAME_RE.match(source[len(CONTEXT) :])
        ):
            raise ConfigError(
                f"{at}.source",
                f"must be 'context.<key>', '{SHOPPER}' or '{QUERY_CLASS}', got {source!r}",
            )
        values = item.get("values", list(fixed) if fixed else None)
        if fixed is not None and values is not None and tuple(values) != fixed:
            raise ConfigError(
                f"{at}.values", f"{source} has the values {list(fixed)}, got {values!r}"
            )
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
            raise ConfigError(
                f"{at}.values", f"expected a list of 1 to {MAX_VALUES} values, got {values!r}"
            )
        for j, v in enumerate(values):
            if not isinstance(v, str) or not VALUE_RE.match(v) or v == OTHER:
                raise ConfigError(
                    f"{at}.values[{j}]",
                    f"must match {VALUE_RE.pattern} and not be '{OTHER}', got {v!r}",
                )
        if len(set(values)) != len(values):
            raise ConfigError(f"{at}.values", f"a value is listed twice: {values!r}")
        out.append(Dimension(name, source, tuple(values)))
    return tuple(out)


def dimensions_to_list(dimensions: tuple[Dimension, ...]) -> list[dict[str, Any]]:
    return [{"name": d.name, "source": d.source, "values": list(d.values)} for d in dimensions]


def search_segments(dimensions: tuple[Dimension, ...], context: Mapping[str, Any]) -> str:
    """The search's segments as the exposure carries them: ``"device=mobile|category=other"``
    (the worker adds ``shopper``)."""
    return SEGMENT_SEP.join(f"{d.name}={d.label(context)}" for d in dimensions)
