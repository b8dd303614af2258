"""What an audit entry concerns, and which entries a reader asked for (pure).

Every writer of the audit stream (config changes, model cards, datasets, the gates' policy,
tokens, refusals) leaves a different shape; :func:`subjects` reads them all into one list of
strings such as ``experiment:KEY`` or ``model:VERSION``, which the API adds to each entry and
filters on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import RequestError

# The head of a config or registry diff path: ``experiments['KEY']...``, ``shadows['V']...``,
# ``models['V']...``, ``datasets['ID']``, or a top-level field (``production``, ``frozen``).
_PATH = re.compile(r"^(?P<field>[a-z_]+)(?:\[(?P<key>'[^']*'|\"[^\"]*\"|\d+)\])?")
_KEYED = {
    "experiments": "experiment",
    "shadows": "shadow",
    "models": "model",
    "datasets": "dataset",
}
_FIELDS = {
    "production": "production",
    "frozen": "freeze",
    "gate_policy": "gate-policy",
    "approval_policy": "approval-policy",
    "holdout": "holdout",
    "segments": "segments",
}
# A diff of a whole keyed list (from or to empty) names its members by these fields.
_MEMBER_KEY = {"experiments": "key", "shadows": "version"}


def subjects(entry: Mapping[str, Any]) -> list[str]:
    """What ``entry`` concerns, in order of first mention, each once: ``experiment:KEY``,
    ``model:VERSION``, ``production``, ``freeze``, ``holdout``, ``shadow:VERSION``, ``dataset:ID``,
    ``gate-policy``, ``token:NAME``, ``route:METHOD PATH`` (a refused request),
    ``approval:ID`` (a held change, with the subjects of the change it holds),
    ``approval-policy``, ``segments``."""
    found: dict[str, None] = {}
    if entry.get("model"):
        found[f"model:{entry['model']}"] = None
    if entry.get("dataset"):
        found[f"dataset:{entry['dataset']}"] = None
    if entry.get("gate_policy"):
        found["gate-policy"] = None
    token = entry.get("token")
    if isinstance(token, Mapping) and token.get("name"):
        found[f"token:{token['name']}"] = None
    approval = entry.get("approval")
    if isinstance(approval, Mapping) and approval.get("id"):
        found[f"approval:{approval['id']}"] = None
        for concern in approval.get("concerns") or ():
            found[str(concern)] = None
    restore = entry.get("restore")  # abgate restore: what it brought back
    if isinstance(restore, Mapping):
        for concern in restore.get("concerns") or ():
            found[str(concern)] = None
    webhook = entry.get("webhook")
    if isinstance(webhook, Mapping) and webhook.get("name"):
        found[f"webhook:{webhook['name']}"] = None
    refused = entry.get("refused")
    if isinstance(refused, Mapping) and refused.get("method"):
        route = refused.get("route") or refused.get("path") or "?"
        found[f"route:{refused['method']} {route}"] = None
    for change in entry.get("diff") or ():
        if isinstance(change, Mapping):
            for subject in _diff_subjects(change):
                found[subject] = None
    return list(found)


def _diff_subjects(change: Mapping[str, Any]) -> Iterable[str]:
    match = _PATH.match(str(change.get("path", "")))
    if match is None:
        return
    field, key = match["field"], match["key"]
    if field in _FIELDS:
        yield _FIELDS[field]
    elif field in _KEYED and key is not None and not key.isdigit():
        yield f"{_KEYED[field]}:{key[1:-1]}"  # the diff writes a key's repr
    elif field in _MEMBER_KEY:
        member = _MEMBER_KEY[field]
        for side in (change.get("old"), change.get("new")):
            for item in side if isinstance(side, list) else [side]:
                if isinstance(item, Mapping) and item.get(member):
                    yield f"{_KEYED[field]}:{item[member]}"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a reader asked for; every field unset matches everything.

    ``subject`` matches one of an entry's subjects exactly, or, ending in ``:``, any subject
    with that prefix (``experiment:`` for every experiment). ``since`` and ``until`` are epoch
    seconds, both inclusive."""

    subject: str | None = None
    actor: str | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.subject is not None and not self.subject.strip(":"):
            raise RequestError("?subject", f"expected e.g. experiment:KEY, got {self.subject!r}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise RequestError("?since", f"{self.since:g} is after ?until {self.until:g}")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilter:
        """From a request's query parameters; an error names the parameter and its value."""
        return cls(
            subject=_text(query, "subject"),
            actor=_text(query, "actor"),
            since=_epoch(query, "since"),
            until=_epoch(query, "until"),
        )

    def matches(self, entry: Mapping[str, Any], entry_subjects: Iterable[str]) -> bool:
        if self.actor is not None and entry.get("actor") != self.actor:
            return False
        ts = entry.get("ts")
        if self.since is not None and not (isinstance(ts, int | float) and ts >= self.since):
            return False
        if self.until is not None and not (isinstance(ts, int | float) and ts <= self.until):
            return False
        if self.subject is None:
            return True
        if self.subject.endswith(":"):
            return any(s.startswith(self.subject) for s in entry_subjects)
        return self.subject in entry_subjects


def _text(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > 300:
        raise RequestError(f"?{name}", f"expected 1 to 300 characters, got {raw[:40]!r}")
    return raw


def _epoch(query: Mapping[str, str], name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise RequestError(f"?{name}", f"expected epoch seconds, got {raw[:40]!r}") from None
    if not 0 <= value < 1e11:
        raise RequestError(f"?{name}", f"expected epoch seconds, got {raw[:40]!r}")
    return value
