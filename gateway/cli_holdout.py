"""``abgate holdout show`` as a person reads it: the holdout, its one-line cumulative lift, each
metric in both arms with the rest's lift and its always-valid interval, and the production
moves since it began. Pure: from the ``GET /v1/holdout`` answer to text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway import cli_output as out


def _pct(x: Any, scale: str) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.1f} %" if scale == "relative" else f"{x:+.4g}"


def _value(x: Any) -> str:
    return "-" if x is None else f"{x:.4g}"


def holdout_text(data: Mapping[str, Any]) -> str:
    """The holdout and its report, or what there is of them."""
    h = data.get("holdout")
    if not h:
        return "no holdout (abgate holdout set VERSION --share S --reason R begins one)"
    state = (
        f"ended {out.when(h.get('ended_at'))}"
        if h.get("ended_at")
        else f"ends {out.when(h['ends_at'])}"
        if h.get("ends_at")
        else "running, no planned end"
    )
    lines = [
        f"holdout {h['stats_id']}: {h['share'] * 100:g} % of users on {h['version']} since "
        f"{out.when(h['started_at'])}, {state}"
    ]
    report = data.get("report")
    if not report:
        lines.append("no report yet: the worker makes one each pass")
        return "\n".join(lines)
    users = report.get("users") or {}
    lines += [
        report["summary"],
        f"users: holdout {users.get('holdout', 0)}, rest {users.get('rest', 0)}; interval: "
        f"{report['method']} at alpha {report['alpha']:g} (valid at every look)",
        "",
    ]
    rows = []
    for m in report.get("metrics") or []:
        arms = {a["variant"]: a for a in m["arms"]}
        lift = m["lift"]
        scale = lift["scale"]
        interval = (
            f"[{_pct(lift['ci_low'], scale)}, {_pct(lift['ci_high'], scale)}]"
            if lift["ci_low"] is not None
            else "-"
        )
        lower = " (lower is better)" if m.get("direction") == "lower" else ""
        rows.append(
            (
                m["metric"] + lower,
                f"{_value(arms['holdout']['value'])} (n {arms['holdout']['n']})",
                f"{_value(arms['rest']['value'])} (n {arms['rest']['n']})",
                _pct(lift["lift"], scale),
                interval,
                f"{lift['p_value']:.3g}",
                "yes" if lift["significant"] else "",
            )
        )
    lines.append(
        out.table(("metric", "holdout", "rest", "lift", "interval", "p", "significant"), rows)
    )
    moves = report.get("promotions") or []
    lines += ["", f"production moves since it began: {len(moves)}"]
    if moves:
        lines.append(
            out.table(
                ("time", "from", "to", "by", "experiment", "reason"),
                [
                    (
                        out.when(p.get("ts")),
                        p.get("from"),
                        p.get("to"),
                        p.get("actor"),
                        p.get("experiment"),
                        p.get("reason"),
                    )
                    for p in moves
                ],
            )
        )
    return "\n".join(lines)
