"""The roles. People's three are ordered, each may do what the ones below it may:

- viewer: reads experiments, results, models, production, shadows and the audit trail;
- experimenter: also creates, edits, ramps, starts and stops experiments, registers and
  retires model versions, runs shadows;
- admin: also moves production (set, rollback, promote), freezes, overrides gates and
  manages tokens.

The storefront's role stands apart: it sends searches and events (the data plane) and may do
nothing else, and of the people only an admin may send them too. A viewer's or an
experimenter's token cannot feed the statistics that decide their own experiments. (A
deployment may open the data plane to anyone: ``ABGATE_SERVING_AUTH=open``.) Health and
metrics need no token.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import ConfigError


class Role(enum.IntEnum):
    STOREFRONT = 0  # searches and events only: not on the people's ladder
    VIEWER = 1
    EXPERIMENTER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, raw: object, where: str) -> Role:
        names = ", ".join(r.label for r in cls)
        if not isinstance(raw, str) or raw.upper() not in cls.__members__:
            raise ConfigError(where, f"expected one of {names}, got {raw!r}")
        return cls[raw.upper()]


@dataclass(frozen=True)
class Principal:
    """The caller a token belongs to: its name is the actor in the audit trail."""

    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        if needed is Role.STOREFRONT:
            return self.role in (Role.STOREFRONT, Role.ADMIN)
        return self.role is not Role.STOREFRONT and self.role >= needed
