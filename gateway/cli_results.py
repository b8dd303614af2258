"""What ``abgate experiments show`` prints: one experiment's results as a person reads them.

Pure: the API's answer (``GET /v1/experiments/{key}``) in, text out. A header (what the
experiment is, how long it has run, its users per arm, the sample-ratio check and the decision
with why), then one row per metric and arm (the value with its count, each treatment's lift
with its always-valid interval, p-value, test, role), the search funnel (each step's conversion
per arm, each treatment's lift), the time to a decision, and each arm's operational health. An experiment with no evaluation yet, a bandit and an interleaved one each
say what they have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.cli_output import interleaving_lines, lift, table, when

# How a value of each unit is written; a share's lift on the absolute scale is in points.
SHARE: Final = "share"
CURRENCY: Final = "currency"
NO_VALUE: Final = "-"


def duration(seconds: Any) -> str:
    """``45 s``, ``12 min 5 s``, ``3 h 20 min``, ``2 d 4 h`` (the dashboard's words);
    ``-`` when unknown."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return NO_VALUE
    rest = max(0, round(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n or parts:
            parts.append(f"{n} {unit}")
    if not parts:
        return "0 s"
    return " ".join(parts[:2]) if len(parts) > 1 and not parts[1].startswith("0 ") else parts[0]


def grouped(n: Any) -> str:
    """An integer with thin groups of three: 18 107."""
    if not isinstance(n, int | float) or not math.isfinite(n):
        return NO_VALUE
    return f"{round(n):,}".replace(",", " ")


def value_text(value: Any, unit: str) -> str:
    """A metric's value in its unit: a share as a percentage (38.3 %), currency with two
    decimals, a count or score with three significant figures."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return NO_VALUE
    if unit == SHARE:
        return f"{value * 100:.1f} %"
    if unit == CURRENCY:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _signed(value: Any, relative: bool, unit: str) -> str:
    if value is None:
        return "∞"
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "∞" if value == math.inf else "-∞" if value == -math.inf else NO_VALUE
    if relative or unit == SHARE:
        return f"{value * 100:+.1f}"
    if unit == CURRENCY:
        return f"{value:+.2f}"
    return f"{value:+.3g}"


def lift_text(lift: Mapping[str, Any], unit: str) -> str:
    """``+36.6 % [+20.1, +50.0]`` relative; absolute in the metric's unit (a share's in
    percentage points, ``pp``); an interval end not yet finite is ``-∞`` or ``∞``."""
    relative = lift.get("scale", "relative") == "relative"
    suffix = " %" if relative else " pp" if unit == SHARE else ""
    low, high = lift.get("ci_low"), lift.get("ci_high")
    low_text = "-∞" if low is None else _signed(low, relative, unit)
    high_text = "∞" if high is None else _signed(high, relative, unit)
    if not isinstance(lift.get("lift"), int | float):
        return NO_VALUE  # not defined yet (an arm without users)
    return f"{_signed(lift.get('lift'), relative, unit)}{suffix} [{low_text}, {high_text}]"


def p_text(p: Any) -> str:
    if not isinstance(p, int | float) or not math.isfinite(p):
        return NO_VALUE
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def metric_rows(metrics: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """One row per metric and arm: the metric and its role on its first row, the arm, its
    value and count; on a treatment's row its lift, interval, p-value, test and ✓ when
    significant."""
    rows: list[tuple[Any, ...]] = []
    for metric in metrics:
        unit = str(metric.get("unit", ""))
        lifts = {str(x.get("variant")): x for x in metric.get("lifts") or ()}
        lower = metric.get("direction") == "lower"
        name = str(metric.get("label") or metric.get("metric")) + (
            " (lower is better)" if lower else ""
        )
        for i, arm in enumerate(metric.get("arms") or ()):
            lift = lifts.get(str(arm.get("variant")))
            rows.append(
                (
                    name if i == 0 else "",
                    metric.get("role", "") if i == 0 else "",
                    arm.get("variant"),
                    value_text(arm.get("value"), unit),
                    grouped(arm.get("n")),
                    NO_VALUE if lift is None else lift_text(lift, unit),
                    NO_VALUE if lift is None else p_text(lift.get("p_value")),
                    NO_VALUE if lift is None else _test_text(lift, unit),
                    _verdict(lift),
                )
            )
    return rows


def _verdict(lift: Mapping[str, Any] | None) -> str:
    """✓ for a significant result, ``harm`` for a significant harm (a breached guardrail, a
    deterioration); nothing otherwise."""
    if lift is None:
        return ""
    return "harm" if lift.get("harm") else "✓" if lift.get("significant") else ""


def _test_text(lift: Mapping[str, Any], unit: str) -> str:
    """The test, with its margin in the lift's own units (a non-inferiority test's)."""
    test = str(lift.get("test") or NO_VALUE)
    margin = lift.get("margin")
    if not isinstance(margin, int | float):
        return test
    relative = lift.get("scale", "relative") == "relative"
    if relative or unit == SHARE:
        return f"{test} (margin {margin * 100:g} {'%' if relative else 'pp'})"
    return f"{test} (margin {margin:g})"


def metrics_table(metrics: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ("metric", "role", "arm", "value", "n", "lift [interval]", "p", "test", "sig"),
        metric_rows(metrics),
    )


# What each funnel step's conversion is over: the step it starts from, counted.
FUNNEL_OVER: Final = {"search": "searches", "click": "clicks", "add-to-cart": "add-to-carts"}


def funnel_over(step: str, n: Any) -> str:
    """``5 000 searches``: the count a step's conversion is over, named by the step it starts
    from (``search → click``: searches)."""
    start = step.split("→")[0].strip()
    return f"{grouped(n)} {FUNNEL_OVER.get(start, start + 's')}"


def funnel_rows(funnel: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """One row per step and arm: the step on its first row, the arm, its conversion from the
    step before (a share, in %) and what it is over; on a treatment's row its lift with the
    two-sided always-valid interval and ✓ when significant."""
    rows: list[tuple[Any, ...]] = []
    for step in funnel:
        name = str(step.get("step") or step.get("metric"))
        lifts = {str(x.get("variant")): x for x in step.get("lifts") or ()}
        for i, arm in enumerate(step.get("arms") or ()):
            lift = lifts.get(str(arm.get("variant")))
            rows.append(
                (
                    name if i == 0 else "",
                    arm.get("variant"),
                    value_text(arm.get("value"), SHARE),
                    funnel_over(name, arm.get("n")),
                    NO_VALUE if lift is None else lift_text(lift, SHARE),
                    _verdict(lift),
                )
            )
    return rows


def funnel_table(funnel: Sequence[Mapping[str, Any]]) -> str:
    """``funnel`` with one row per step and arm (:func:`funnel_rows`)."""
    return "funnel: each step's conversion from the one before\n" + table(
        ("step", "arm", "conversion", "of", "lift [interval]", "sig"), funnel_rows(funnel)
    )


def time_to_decision(ttd: Mapping[str, Any] | None) -> str:
    """``about N more users needed (n of about N to conclude at a 5 % effect), ~D days at
    the current rate``, or why it is not known (no units needed known yet). The total is
    ``units_to_conclude`` (re-estimated at each evaluation) where the record has it, else
    ``tuning_units``."""
    needed = ttd.get("units_needed") if ttd else None
    if not ttd or not isinstance(needed, int | float):
        return "time to decision: not known yet (no test planned: too few users so far)"
    effect = ttd.get("effect")
    planned = f" at a {effect * 100:.3g} % effect" if isinstance(effect, int | float) else ""
    total = ttd.get("units_to_conclude") or ttd.get("tuning_units")
    so_far = f" ({grouped(ttd.get('units'))} of about {grouped(total)} to conclude{planned})"
    if isinstance(needed, int | float) and needed <= 0:
        return "time to decision: enough users for the planned test" + so_far
    days = ttd.get("days_left")
    rate = ttd.get("units_per_day")
    if isinstance(days, int | float) and isinstance(rate, int | float):
        when_text = f", ~{days:.2g} days at the current rate ({grouped(rate)} users a day)"
    else:
        when_text = "; days unknown (no traffic rate yet)"
    return f"time to decision: about {grouped(needed)} more users needed{so_far}{when_text}"


def ops_table(ops: Sequence[Mapping[str, Any]]) -> str:
    """Each arm's requests, errors and error rate, p50 and p99 scoring time, and on a
    treatment the latency test's ratio of its quantile to the control's with the interval."""
    rows = []
    for arm in ops:
        latency = arm.get("latency") or {}
        test = NO_VALUE
        if latency:
            low, high = latency.get("ci_low"), latency.get("ci_high")
            q = latency.get("quantile")
            test = (
                f"p{q * 100:g} ×{_plain(latency.get('ratio'))} "
                f"[{_plain(low)}, {'∞' if high is None else _plain(high)}]"
                + (f" margin ×{_plain(latency['margin'])}" if latency.get("margin") else "")
                + (" breached" if latency.get("breached") else "")
                if isinstance(q, int | float)
                else NO_VALUE
            )
        rate = arm.get("error_rate")
        rows.append(
            (
                arm.get("variant"),
                grouped(arm.get("requests")),
                grouped(arm.get("errors")),
                f"{rate * 100:.2f} %" if isinstance(rate, int | float) else NO_VALUE,
                _ms(arm.get("p50_ms")),
                _ms(arm.get("p99_ms")),
                test,
            )
        )
    return table(
        ("arm", "requests", "errors", "error rate", "p50 ms", "p99 ms", "latency test"), rows
    )


def _plain(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) and math.isfinite(value) else NO_VALUE


def _ms(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and math.isfinite(value) else NO_VALUE


def header(view: Mapping[str, Any]) -> list[str]:
    """Key, kind, status, phase and runtime; users per arm and the SRM p-value; the decision
    with the rule that fired and why."""
    evaluation = view.get("last_evaluation") or {}
    status = str(view.get("status", "?"))
    outcome = view.get("outcome", "none")
    if outcome not in (None, "none"):
        status += f" ({outcome})"
    kind = view.get("kind") or "ab"
    phase = view.get("period") if kind == "bandit" else view.get("phase")
    runtime = duration(evaluation.get("runtime_s")) if evaluation else NO_VALUE
    lines = [
        f"{view.get('key')}  {kind}, {status}, {'period' if kind == 'bandit' else 'phase'} "
        f"{phase or 0}, coverage {view.get('coverage', 1.0):g}, runtime {runtime}",
    ]
    if view.get("description"):
        lines.append(f"  {view['description']}")
    if view.get("paused_at") is not None:
        lines.append(f"  paused since {when(view['paused_at'])} UTC: everyone gets production")
    if not evaluation:
        return [*lines, "  no evaluation yet"]
    units = evaluation.get("units") or {}
    srm = evaluation.get("srm_p_value")
    lines.append(
        "  users: "
        + (", ".join(f"{arm} {grouped(n)}" for arm, n in units.items()) or NO_VALUE)
        + f"; SRM p={NO_VALUE if srm is None else f'{srm:.3g}'}"
        + (f"; primary metric {evaluation['metric']}" if evaluation.get("metric") else "")
    )
    decision = evaluation.get("decision") or {}
    blocked = decision.get("blocked_by") or []
    rule = decision.get("rule")
    lines.append(
        f"  decision: {decision.get('action', '?')}"
        + (f" → {decision['winner']}" if decision.get("winner") else "")
        + (f" (rule: {rule})" if rule else "")
        + (f" (blocked by {', '.join(blocked)})" if blocked else "")
    )
    lines += [f"    - {reason}" for reason in decision.get("reasons") or ()]
    return lines


def show(
    view: Mapping[str, Any], notes: Sequence[str] = (), after_metrics: Sequence[str] = ()
) -> str:
    """The whole of ``abgate experiments show``: see the module's docstring. ``notes`` are
    lines under the header (the alerts), ``after_metrics`` sections after the metrics and
    funnel tables (the segments): :func:`gateway.cli_segments.show` gives both."""
    lines = [*header(view), *notes]
    evaluation = view.get("last_evaluation") or {}
    if not evaluation:
        return "\n".join(lines)
    sections = ["\n".join(lines)]
    if evaluation.get("interleaving"):
        sections.append(
            "\n".join(line.strip() for line in interleaving_lines(evaluation["interleaving"]))
        )
    metrics = evaluation.get("metrics")
    if metrics:
        sections.append(metrics_table(metrics))
    elif not evaluation.get("interleaving"):
        sections.append(f"{evaluation.get('metric', 'lift')}: {lift(evaluation)}")
    funnel = evaluation.get("funnel")
    if funnel:
        sections.append(funnel_table(funnel))
    sections += after_metrics
    state = evaluation.get("state") or {}
    if "p_best" in state:
        sections.append("P(best): " + ", ".join(f"{k} {v:.3f}" for k, v in state["p_best"].items()))
    if view.get("kind") not in ("bandit", "interleaving", "multileaving"):
        sections.append(time_to_decision(evaluation.get("time_to_decision")))
    ops = evaluation.get("ops")
    if ops:
        sections.append("operational health\n" + ops_table(ops))
    return "\n\n".join(sections)
