"""Who changed the config: the names abgate's own processes write into the audit stream.

A person's change over HTTP may name its actor (``X-Abgate-Actor``) but never
one of these: `abgate run` and the audit readers take an entry by
``decision-loop`` for an automated decision.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.errors import Forbidden, RequestError

DECISION_LOOP: Final = "decision-loop"
GATEWAY_STARTUP: Final = "gateway-startup"
WORKER_STARTUP: Final = "worker-startup"
SYSTEM_ACTORS: Final = frozenset({DECISION_LOOP, GATEWAY_STARTUP, WORKER_STARTUP})
DEFAULT_HTTP_ACTOR: Final = "admin-api"
_ACTOR_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$")


def http_actor(claimed: str | None) -> str:
    """The actor for a change made over HTTP, from its ``X-Abgate-Actor`` header."""
    if claimed is None:
        return DEFAULT_HTTP_ACTOR
    if not _ACTOR_RE.match(claimed):
        raise RequestError(
            "X-Abgate-Actor",
            "expected 1-64 characters: letters, digits and . _ @ : + - "
            f"(starting with a letter or digit), got {claimed[:80]!r}",
        )
    if claimed.lower() in SYSTEM_ACTORS:
        raise Forbidden(
            f"X-Abgate-Actor {claimed!r} is reserved for abgate's own processes; "
            "name the person or tool making the change"
        )
    return claimed
