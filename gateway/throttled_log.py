"""A log line that an attacker or a broken client cannot turn into a flood."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field


@dataclass
class ThrottledLog:
    """At most one line per ``interval_s``, carrying the count of the lines it held back."""

    logger: logging.Logger
    interval_s: float = 1.0
    level: int = logging.WARNING
    _next_at: float = field(default=0.0, init=False)
    _held_back: int = field(default=0, init=False)

    def warning(self, message: str, *args: object) -> bool:
        """Log ``message % args`` unless one was logged less than ``interval_s`` ago."""
        now = time.monotonic()
        if now < self._next_at:
            self._held_back += 1
            return False
        if self._held_back:
            message += f" (and {self._held_back} more since the last line)"
        self.logger.log(self.level, message, *args)
        self._next_at, self._held_back = now + self.interval_s, 0
        return True
