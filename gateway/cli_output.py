"""What ``abgate``'s read verbs print for a person (``-o table``), from the API's answers, and
the exit code an experiment's outcome gives ``experiments watch`` and ``experiments status``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

# Exit codes of ``experiments status`` and ``experiments watch`` (as `kubectl argo rollouts
# status` does: a pipeline branches on the outcome without parsing any output).
PROMOTED: Final = 0
USER_ERROR: Final = 2
ROLLED_BACK: Final = 3
STOPPED: Final = 4
STILL_RUNNING: Final = 5
DRAFT: Final = 6
EXIT_CODES: Final = (
    "exit codes: 0 promoted; 3 rolled back; 4 stopped or concluded without promotion "
    "(inconclusive, stopped); 5 still running or paused (watch: when --timeout or --times "
    "ran out); 6 a draft (status only); 2 a user error (no such experiment, bad option, "
    "gateway unreachable)"
)


def outcome_code(view: Mapping[str, Any]) -> int:
    """The exit code of an experiment's state (its API view): see EXIT_CODES."""
    status, outcome = view.get("status"), view.get("outcome", "none")
    if status in ("running", "paused"):
        return STILL_RUNNING
    if status == "draft":
        return DRAFT
    if outcome in ("promoted", "promoted_to_ab"):
        return PROMOTED
    if outcome == "rolled_back":
        return ROLLED_BACK
    return STOPPED


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart, a header line first."""
    cells = [[str(h).upper() for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def fields(data: Mapping[str, Any]) -> str:
    """One ``name  value`` line per field (nested values as compact JSON)."""
    return table(("field", "value"), [(k, v) for k, v in data.items()])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return _short(json.dumps(value, separators=(",", ":")), 80)
    return str(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(ts: Any) -> str:
    """Epoch seconds as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if not isinstance(ts, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def experiments_table(views: Sequence[Mapping[str, Any]]) -> str:
    """key, kind, status, primary metric, lift so far (with its interval), users, started."""
    rows = []
    for view in views:
        phases = view.get("phases") or [{}]
        evaluation = view.get("last_evaluation") or {}
        units = evaluation.get("units") or {}
        status = view.get("status", "?")
        if status == "concluded" and view.get("outcome", "none") != "none":
            status = f"concluded ({view['outcome']})"
        rows.append(
            (
                view["key"],
                view.get("kind") or "ab",
                status,
                view.get("primary_metric"),
                lift(evaluation),
                sum(units.values()) if units else "-",
                when(phases[0].get("started_at")),
            )
        )
    return table(
        ("key", "kind", "status", "primary metric", "lift so far", "users", "started"), rows
    )


def lift(evaluation: Mapping[str, Any]) -> str:
    """Each treatment's lift so far with its interval, or the interleaved preference."""
    if not evaluation:
        return "-"
    interleaved = evaluation.get("interleaving")
    if interleaved:
        order = interleaved.get("order") or []
        return f"users prefer {order[0]}" if order else "-"
    parts = []
    for arm in evaluation.get("arms") or ():
        parts.append(f"{arm['variant']} {arm_lift(arm)}")
    return "; ".join(parts) or "-"


def arm_lift(arm: Mapping[str, Any]) -> str:
    """A treatment's lift as ``experiments show`` writes it: relative in % (``+34.2 %
    [+0.2, +68.1]``), an absolute difference (the control's mean is 0) with three figures."""
    relative = arm.get("scale") != "absolute"

    def number(x: float) -> str:
        return f"{x * 100:+.1f}" if relative else f"{x:+.3g}"

    low, high = arm.get("ci_low"), arm.get("ci_high")
    estimate = arm.get("estimate")
    if not isinstance(estimate, int | float):
        return "-"
    interval = (
        f" [{number(low)}, {number(high)}]" if low is not None and high is not None else " [-]"
    )
    return f"{number(estimate)}{' %' if relative else ''}{interval}"


def models_table(data: Mapping[str, Any]) -> str:
    """version, state, gates (passed, failed: which, overridden, pending), in use by."""
    rows = []
    for card in data.get("models") or ():
        state = "retired" if card.get("retired") else card.get("state", "?")
        rows.append((card["version"], state, gates(card), ", ".join(card.get("in_use_by") or [])))
    return table(("version", "state", "gates", "in use by"), rows)


def gates(card: Mapping[str, Any]) -> str:
    results = (card.get("gates") or {}).get("results") or []
    failed = [r.get("gate", "?") for r in results if not r.get("passed")]
    if card.get("override"):
        return "overridden" + (f" (failed: {', '.join(failed)})" if failed else "")
    if card.get("state") == "gating" or not results:
        return "pending"
    return f"failed: {', '.join(failed)}" if failed else "passed"


def audit_lines(entries: Sequence[Mapping[str, Any]]) -> str:
    """One line per entry: time, actor, subjects, reason, what changed."""
    rows = [
        (
            when(e.get("ts")),
            e.get("actor", "?"),
            ", ".join(e.get("subjects") or []) or "-",
            _short(str(e.get("reason") or ""), 60),
            diff_summary(e.get("diff") or []),
        )
        for e in entries
    ]
    return table(("time", "actor", "subjects", "reason", "changed"), rows)


def diff_summary(diff: Sequence[Mapping[str, Any]], shown: int = 2) -> str:
    """The first changes as ``path: old → new``, and how many more."""
    parts = [
        f"{change.get('path')}: {_value(change.get('old'))} → {_value(change.get('new'))}"
        for change in diff[:shown]
    ]
    if len(diff) > shown:
        parts.append(f"+{len(diff) - shown} more")
    return "; ".join(parts) or "-"


def _value(value: Any) -> str:
    return _short(json.dumps(value, separators=(",", ":")), 24)


def summary(data: Mapping[str, Any]) -> str:
    """One experiment's state and latest result, a few lines for a terminal."""
    lines = [
        f"{data['key']}: {data['status']} (outcome {data.get('outcome', 'none')}), "
        f"phase {data.get('phase', 0)}, coverage {data.get('coverage', 1.0):g}",
    ]
    if data.get("paused_at") is not None:
        lines.append(
            f"  paused since {when(data['paused_at'])} UTC: everyone gets production "
            f"(paused {data.get('paused_s') or 0:.0f} s in all before)"
        )
    evaluation = data.get("last_evaluation")
    if not evaluation:
        return "\n".join([*lines, "  no evaluation yet"])
    units = evaluation.get("units") or {}
    lines.append(
        f"  {evaluation['metric']}: "
        + ", ".join(f"{arm} {n} units" for arm, n in units.items())
        + f"; SRM p={evaluation.get('srm_p_value') or 1:.3g}"
    )
    interleaved = evaluation.get("interleaving")
    if interleaved:
        lines += interleaving_lines(interleaved)
    else:
        for arm in evaluation.get("arms", []):
            p = arm.get("p_adjusted")
            lines.append(
                f"  {arm['variant']}: {'lift' if arm.get('scale') != 'absolute' else 'difference'}"
                f" {arm_lift(arm)}, p={1.0 if p is None else p:.3g}"
                f"{'  significant' if arm.get('significant') else ''}"
            )
    state = evaluation.get("state") or {}
    if "p_best" in state:
        lines.append("  P(best): " + ", ".join(f"{k} {v:.3f}" for k, v in state["p_best"].items()))
    decision = evaluation["decision"]
    blocked = decision.get("blocked_by") or []
    lines.append(
        f"  decision: {decision['action']}"
        + (f" (blocked by {', '.join(blocked)})" if blocked else "")
        + f": {'; '.join(decision['reasons'])}"
    )
    return "\n".join(lines)


def interleaving_lines(report: Mapping[str, Any]) -> list[str]:
    share = report.get("competitive_share")
    lines = [
        f"  {report['searches']} interleaved searches, {report.get('settled', 0)} users settled, "
        f"{report['slots']} slots, competitive "
        + ("-" if share is None else f"{share:.1%}")
        + "; most preferred first: "
        + " > ".join(report["order"])
    ]
    for pair in report["pairs"]:
        lines.append(
            f"  {pair['a']} vs {pair['b']}: {pair['positive']} users prefer {pair['a']}, "
            f"{pair['negative']} {pair['b']} (searches won {pair['won']}-{pair['lost']}), "
            f"p={pair['p_adjusted']:.3g}{'  significant' if pair['significant'] else ''}"
        )
    return lines
