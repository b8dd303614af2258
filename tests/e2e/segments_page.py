"""The dashboard's alerts and Segments section as drawn, read in one go from the browser, and
every figure of the API's answers (the evaluation's ``alerts``; the drill-down,
``GET /v1/experiments/{key}/segments``) that the page does not show as it is."""

from __future__ import annotations

from typing import Any

READ_SCRIPT = """const cells = (tr) => Object.fromEntries([...tr.querySelectorAll('td')]
    .map((td) => [td.className.replace(/^num /, '').split(' ')[0], td.textContent]));
  const alerts = [...document.querySelectorAll('#alerts li')].map((li) => ({
    kind: li.dataset.kind, level: li.querySelector('.badge.level').textContent,
    message: li.querySelector('.message').textContent, dimension: li.dataset.dimension,
    value: li.dataset.value, variant: li.dataset.variant,
    blocks: !!li.querySelector('.badge.blocks')}));
  const rows = [...document.querySelectorAll('#segment-table tbody tr')].map((tr) => ({
    dimension: tr.dataset.dimension, value: tr.dataset.value, variant: tr.dataset.variant,
    ...cells(tr)}));
  const chosen = (id) => (document.getElementById(id) || {}).value;
  return {alerts, rows, metric: chosen('segment-metric'), dimension: chosen('segment-dimension'),
          empty: (document.getElementById('segments-empty') || {}).textContent || null,
          error: (document.getElementById('segments-error') || {}).textContent || null};"""


def shown(text: str) -> float | None:
    """A number as the page writes it (grouped, signed with −, in % or pp); ∞ as None."""
    cleaned = text.replace("−", "-").replace("%", "").replace("pp", "").replace(" ", "").strip()
    return None if cleaned.lstrip("+-") == "∞" else float(cleaned)


def near(text: str, value: float | None, unit: str, relative: bool) -> bool:
    """Whether ``text`` shows ``value`` to its printed precision (a share or a relative lift
    in % or points with one decimal, currency with two, else three figures)."""
    got = shown(text)
    if value is None or got is None:
        return value is None and got is None
    if relative or unit == "share":
        return abs(got - value * 100) <= 0.051
    if unit == "currency":
        return abs(got - value) <= 0.0051
    return abs(got - value) <= 0.0051 * max(abs(value), 1e-12)


def _p_shown(text: str, p: float | None) -> bool:
    if p is None:
        return text == "–"
    return text == "<0.001" if p < 0.001 else abs(float(text) - p) <= 0.00051


def _alerted(alerts: list[dict[str, Any]], segment: dict[str, Any], variant: str) -> str:
    levels = [
        a["level"]
        for a in alerts
        if a.get("dimension") == segment["dimension"]
        and a.get("value") == segment["value"]
        and a.get("metric") in (None, segment["metric"])
        and a.get("variant") in (None, variant)
    ]
    return "strong" if "strong" in levels else levels[0] if levels else ""


def alerts_differ(page: dict[str, Any], alerts: list[dict[str, Any]]) -> list[str]:
    """The evaluation's alerts against the page's: the same set (kind, level, message, what
    it names) and the ones that block a promotion marked."""

    def key(a: dict[str, Any]) -> tuple[Any, ...]:
        return (a["kind"], a["level"], a["message"], a.get("dimension") or "",
                a.get("value") or "", a.get("variant") or "", bool(a.get("blocks")))  # fmt: skip

    got, expected = sorted(map(key, page["alerts"])), sorted(map(key, alerts))
    return [] if got == expected else [f"alerts {got} for {expected}"]


def segments_differ(page: dict[str, Any], drill: dict[str, Any], unit: str) -> list[str]:
    """Every row of the drill-down (a segment and treatment) against the page's: users per
    arm, value per arm, lift and interval, the rest's lift, differs p, SRM p, the alert."""
    wrong: list[str] = []
    rows = {(r["dimension"], r["value"], r["variant"]): r for r in page["rows"]}
    expected = [(s, lift) for s in drill["segments"] for lift in s["lifts"]]
    if len(rows) != len(expected):
        wrong.append(f"{len(rows)} rows for {len(expected)} segments and treatments")
    if page["metric"] != drill["metric"]:
        wrong.append(f"metric {page['metric']!r} chosen for {drill['metric']!r}")
    for segment, lift in expected:
        where = f"{segment['dimension']}={segment['value']}/{lift['variant']}"
        row = rows.get((segment["dimension"], segment["value"], lift["variant"]))
        if row is None:
            wrong.append(f"{where}: no row")
            continue
        users = [f"{arm} {n:,}".replace(",", " ") for arm, n in segment["users"].items()]
        if row["users"].split(" · ") != users:
            wrong.append(f"{where}: users {row['users']!r} for {segment['users']}")
        for arm in segment["arms"]:
            part = next(
                (p for p in row["values"].split(" · ") if p.startswith(f"{arm['variant']} ")), ""
            )
            if not near(part.removeprefix(f"{arm['variant']} "), arm["value"], unit, False):
                wrong.append(
                    f"{where}: value {row['values']!r} for {arm['variant']} {arm['value']}"
                )
        relative = lift["scale"] == "relative"
        if lift["lift"] is None:
            if (row["lift"], row["interval"]) != ("–", "–"):
                wrong.append(f"{where}: {row['lift']!r} {row['interval']!r} for no lift")
        else:
            low, high = row["interval"].rstrip(" %p").strip("[]").split(", ")
            for name, text, value in (("lift", row["lift"], lift["lift"]),
                                      ("ci_low", low, lift["ci_low"]),
                                      ("ci_high", high, lift["ci_high"])):  # fmt: skip
                if not near(text, value, unit, relative):
                    wrong.append(f"{where}: {name} {text!r} for {value}")
        rest = next((x for x in segment["rest_lifts"] if x["variant"] == lift["variant"]), None)
        if rest is not None and rest["lift"] is not None:
            rest_lift = row["rest"].split(" [")[0]
            if not near(rest_lift, rest["lift"], unit, rest["scale"] == "relative"):
                wrong.append(f"{where}: rest {row['rest']!r} for {rest['lift']}")
        if not _p_shown(row["differs"], segment["differs_p"].get(lift["variant"])):
            wrong.append(f"{where}: differs p {row['differs']!r} for {segment['differs_p']}")
        if not _p_shown(row["srm"], segment["srm_p_value"]):
            wrong.append(f"{where}: SRM p {row['srm']!r} for {segment['srm_p_value']}")
        level = _alerted(drill.get("alerts") or [], segment, lift["variant"])
        if (f"⚠ {level}" if level else "") != row["alert"]:
            wrong.append(f"{where}: alert {row['alert']!r} for {level or 'none'}")
    return wrong
