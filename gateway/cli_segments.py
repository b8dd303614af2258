"""What the CLI prints about segments and alerts, and how it reads a dimension from its options.

Pure: the API's answers in, text out (``experiments show``'s alerts and short segments table,
``experiments segments``' drill-down, ``segments show``'s dimensions), and ``segments set``'s
``--dimension name[=source][:v1,v2,...]`` as the API's body. A segment row carries a ⚠ with the
alert's level where the evaluation raised a differential-impact alert on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway import cli_results
from gateway.cli_output import table
from gateway.cli_results import NO_VALUE, grouped, lift_text, p_text, value_text
from gateway.errors import ConfigError

WARNING: Final = "⚠"
# An alert's kind as a person reads it.
KINDS: Final = {
    "segment": "segment",
    "segment_srm": "segment SRM",
    "pre_exposure_bias": "pre-exposure bias",
    "event_health": "event health",
}


def alert_lines(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per alert, strong ones first: ``⚠ strong  segment: <message>``, with
    ``(blocks promotion)`` on the ones the promotion waits for."""
    ordered = sorted(alerts, key=lambda a: (a.get("level") != "strong", not a.get("blocks")))
    return [
        f"{WARNING} {alert.get('level', '?'):<6}  {KINDS.get(str(alert.get('kind')), alert.get('kind'))}: "
        f"{alert.get('message', '')}" + ("  (blocks promotion)" if alert.get("blocks") else "")
        for alert in ordered
    ]


def alert_flag(
    alerts: Sequence[Mapping[str, Any]], segment: Mapping[str, Any], variant: str | None = None
) -> str:
    """``⚠ strong`` / ``⚠ weak`` where an alert names this segment (its dimension and value;
    its metric and treatment where the alert names them), the strongest one; else nothing."""
    levels = [
        str(alert.get("level"))
        for alert in alerts
        if alert.get("dimension") == segment.get("dimension")
        and alert.get("value") == segment.get("value")
        and alert.get("metric") in (None, segment.get("metric"))
        and (variant is None or alert.get("variant") in (None, variant))
    ]
    if not levels:
        return ""
    return f"{WARNING} {'strong' if 'strong' in levels else levels[0]}"


def _users(segment: Mapping[str, Any]) -> str:
    users = segment.get("users") or {}
    return " / ".join(f"{arm} {grouped(n)}" for arm, n in users.items()) or NO_VALUE


def _values(segment: Mapping[str, Any], unit: str) -> str:
    return " / ".join(value_text(arm.get("value"), unit) for arm in segment.get("arms") or ())


def segment_rows(
    segments: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    units: Mapping[str, str],
    detail: bool = False,
) -> list[tuple[Any, ...]]:
    """One row per segment and treatment: dimension, value, users per arm, the lift there with
    its interval, the p of its difference from the rest, ⚠ where alerted. With ``detail`` (the
    drill-down) also each arm's value, the lift in the rest of the dimension and the
    segment's own SRM p."""
    rows: list[tuple[Any, ...]] = []
    for segment in segments:
        unit = units.get(str(segment.get("metric")), "")
        rest = {str(x.get("variant")): x for x in segment.get("rest_lifts") or ()}
        differs = segment.get("differs_p") or {}
        for lift in segment.get("lifts") or ():
            variant = str(lift.get("variant"))
            other = rest.get(variant)
            row: tuple[Any, ...] = (
                segment.get("dimension"),
                segment.get("value"),
                _users(segment),
                *((_values(segment, unit),) if detail else ()),
                variant,
                lift_text(lift, unit),
                *((NO_VALUE if other is None else lift_text(other, unit),) if detail else ()),
                p_text(differs.get(variant)),
                *((p_text(segment.get("srm_p_value")),) if detail else ()),
                alert_flag(alerts, segment, variant),
            )
            rows.append(row)
    return rows


def segments_table(
    segments: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    units: Mapping[str, str],
    detail: bool = False,
) -> str:
    if detail:
        headers: tuple[str, ...] = (
            "dimension", "value", "users", "values", "arm", "lift [interval]",
            "rest of dimension", "differs p", "SRM p", "alert",
        )  # fmt: skip
    else:
        headers = ("dimension", "value", "users", "arm", "lift [interval]", "differs p", "alert")
    return table(headers, segment_rows(segments, alerts, units, detail))


def units_of(view: Mapping[str, Any]) -> dict[str, str]:
    """Each metric's unit, from an experiment's evaluation (its ``metrics``)."""
    evaluation = view.get("last_evaluation") or {}
    return {str(m.get("metric")): str(m.get("unit", "")) for m in evaluation.get("metrics") or ()}


def show_section(evaluation: Mapping[str, Any], units: Mapping[str, str]) -> str | None:
    """``experiments show``'s short segments table (the success metric), or None without
    segments."""
    segments = evaluation.get("segments") or ()
    if not segments:
        return None
    metric = segments[0].get("metric")
    return f"segments ({metric})\n" + segments_table(
        segments, evaluation.get("alerts") or (), units
    )


def show(view: Mapping[str, Any]) -> str:
    """``abgate experiments show``: the results (:func:`gateway.cli_results.show`) with the
    evaluation's alerts under the header and its segments table after the metrics."""
    evaluation = view.get("last_evaluation") or {}
    alerts = evaluation.get("alerts") or ()
    notes = ["  alerts:", *(f"    {line}" for line in alert_lines(alerts))] if alerts else []
    section = show_section(evaluation, units_of(view))
    return cli_results.show(view, notes, () if section is None else (section,))


def drilldown_text(answer: Mapping[str, Any], units: Mapping[str, str]) -> str:
    """``experiments segments``: which experiment, phase, metric and dimensions; the alerts;
    the drill-down table (or why there is none)."""
    dimensions = answer.get("dimensions") or ()
    lines = [
        f"{answer.get('experiment')}  phase {answer.get('phase') or 0}, metric "
        f"{answer.get('metric')}, dimensions: {', '.join(dimensions) or 'none yet'}"
    ]
    alerts = answer.get("alerts") or ()
    sections = ["\n".join(lines + [f"  {line}" for line in alert_lines(alerts)])]
    segments = answer.get("segments") or ()
    if segments:
        sections.append(segments_table(segments, alerts, units, detail=True))
    elif not dimensions:
        sections.append(
            "no segments in this phase: the deployment's dimensions (abgate segments show) count "
            "the users first exposed after they were declared"
        )
    else:
        sections.append("no segment has users yet")
    return "\n\n".join(sections)


def dimensions_table(answer: Mapping[str, Any]) -> str:
    """``segments show``: each dimension's name, source and the values it keeps."""
    rows = [
        (d.get("name"), d.get("source"), ", ".join(d.get("values") or ()) + ", (other)")
        for d in answer.get("dimensions") or ()
    ]
    if not rows:
        return "no dimensions declared: results are not broken down by segment"
    return table(("dimension", "source", "values"), rows)


def parse_dimension(text: str) -> dict[str, Any]:
    """``name[=source][:v1,v2,...]`` (``device=context.device:mobile,desktop``,
    ``device:mobile,desktop``, ``shopper=shopper``) as the API's ``{name, source, values}``;
    without a source the gateway reads the search's ``context.<name>``, without values it
    takes a fixed source's own (shopper, query_class). The gateway checks the rest."""
    head, colon, listed = text.partition(":")
    name, sep, source = head.partition("=")
    if not name.strip() or (sep and not source.strip()):
        raise ConfigError("--dimension", f"expected name[=source][:value,value,...], got {text!r}")
    dimension: dict[str, Any] = {"name": name.strip()}
    if sep:
        dimension["source"] = source.strip()
    if colon:
        values = [v.strip() for v in listed.split(",")]
        if not all(values):
            raise ConfigError("--dimension", f"an empty value in {text!r}")
        dimension["values"] = values
    return dimension


def dimensions_body(specs: Sequence[str], file_dimensions: Any, reason: str) -> dict[str, Any]:
    """``segments set``'s body from its ``--dimension`` options or ``--file``'s JSON (a list of
    dimensions, or an object with ``dimensions``), never both."""
    if specs and file_dimensions is not None:
        raise ConfigError("--file", "give --dimension options or --file, not both")
    if file_dimensions is None:
        if not specs:
            raise ConfigError("--dimension", "give at least one, or --file (a JSON list)")
        return {"dimensions": [parse_dimension(s) for s in specs], "reason": reason}
    if isinstance(file_dimensions, Mapping):
        file_dimensions = file_dimensions.get("dimensions")
    if not isinstance(file_dimensions, list):
        raise ConfigError(
            "--file", 'expected a JSON list of {name, source, values} or {"dimensions": [...]}'
        )
    return {"dimensions": file_dimensions, "reason": reason}
