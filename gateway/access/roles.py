"""The three roles, ordered: each may do what the ones below it may.

- viewer: reads experiments, results, models, production, shadows and the audit trail;
- experimenter: also creates, edits, ramps, starts and stops experiments, registers and
  retires model versions, runs shadows;
- admin: also moves production (set, rollback, promote), freezes, overrides gates and
  manages tokens.

Searches, events, health and metrics are the data plane and need no token.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import ConfigError


class Role(enum.IntEnum):
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
        return self.role >= needed
