"""Who changed the config: the names abgate's own processes write into the audit stream.

A person's change over HTTP is recorded under the name of the token that made it
(:mod:`gateway.access.tokens`), which may never be one of these: `abgate run` and the
audit readers take an entry by ``decision-loop`` for an automated decision.
"""

from __future__ import annotations

from typing import Final

DECISION_LOOP: Final = "decision-loop"
GATEWAY_STARTUP: Final = "gateway-startup"
WORKER_STARTUP: Final = "worker-startup"
# Marks a held change that nobody approved or rejected in time as expired.
APPROVAL_EXPIRY: Final = "approval-expiry"
# Records that a deployment's control plane was restored from a backup (abgate restore).
BACKUP_RESTORE: Final = "backup-restore"
SYSTEM_ACTORS: Final = frozenset(
    {DECISION_LOOP, GATEWAY_STARTUP, WORKER_STARTUP, APPROVAL_EXPIRY, BACKUP_RESTORE}
)
