"""The study's design, its jobs, and the Markdown table it prints and writes."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.study import bandits, decision_rule, latency, methods, segment_alerts, streams
from stats.confidence_sequence import GROWTHBOOK_DEFAULT_TUNING
from stats.effects import relative_lift

REPORT_PATH = Path("docs/stats-validation.md")
ALPHA = 0.05
BASELINE = 0.05
LIFTS = (0.0, 0.02, 0.05, 0.10)
PER_LOOK = 2_000
LOOKS = 100
HORIZON = PER_LOOK * LOOKS  # users per arm
TUNED = 2 * HORIZON  # N*, total units
METRICS = ("conversion", "revenue", "ctr", "cuped")
# replications: (A/A, each lift), full and quick
REPS = {
    "conversion": ((4_000, 2_000), (100, 50)),
    "revenue": ((4_000, 2_000), (100, 50)),
    "ctr": ((2_000, 500), (40, 20)),
    "cuped": ((1_000, 500), (30, 15)),
}
CHUNK = {"conversion": 1_000, "revenue": 500, "ctr": 100, "cuped": 50}
BANDIT_SEEDS = ((100,), (3,))
DEFAULT_METHOD = "group-sequential, O'Brien–Fleming, 100 looks"


def method_list(unit_variance: float, naive: bool) -> list[methods.Method]:
    out = [
        methods.Method("fixed-horizon z, peeked at every look", methods.fixed_peeked(ALPHA)),
        methods.Method("fixed-horizon z, once at the horizon", methods.fixed_end(ALPHA)),
        methods.Method(
            f"mSPRT, τ² planned for N* = {TUNED:,}",
            methods.msprt_planned(ALPHA, TUNED, unit_variance),
        ),
        methods.Method(
            f"confidence sequence, N* = {GROWTHBOOK_DEFAULT_TUNING:,} (GrowthBook default)",
            methods.confidence_sequence(ALPHA, GROWTHBOOK_DEFAULT_TUNING),
        ),
        methods.Method(
            f"confidence sequence, N* = {TUNED:,} (abgate, no horizon)",
            methods.confidence_sequence(ALPHA, TUNED),
        ),
        methods.Method(
            DEFAULT_METHOD + " (abgate, planned horizon)", methods.group_sequential(ALPHA, LOOKS)
        ),
    ]
    if naive:
        out.append(
            methods.Method("naive: searches as independent, peeked", methods.fixed_peeked(ALPHA))
        )
        out.append(methods.Method("naive: searches as independent, once", methods.fixed_end(ALPHA)))
    return out


@dataclass
class Tally:
    reps: int = 0
    rejected: int = 0
    positive: int = 0
    users: float = 0.0
    covered: int = 0

    def add(self, other: Tally) -> None:
        self.reps += other.reps
        self.rejected += other.rejected
        self.positive += other.positive
        self.users += other.users
        self.covered += other.covered


def _tally(o: methods.Outcome, reps: int) -> Tally:
    return Tally(
        reps,
        int(o.rejected.sum()),
        int((o.rejected & o.positive).sum()),
        float(o.users.sum()),
        int(o.covered.sum()),
    )


CUPED_METHODS = (
    (f"confidence sequence, N* = {TUNED:,}", methods.confidence_sequence(ALPHA, TUNED)),
    (DEFAULT_METHOD, methods.group_sequential(ALPHA, LOOKS)),
)


def cuped_job(lift: float, reps: int, seed: int) -> dict[str, Tally]:
    """The same users analysed plainly and with CUPED, under abgate's two sequential tests."""
    plain, adjusted = streams.conversion_with_history(
        reps, LOOKS, PER_LOOK, lift, np.random.default_rng(seed)
    )
    out = {}
    for label, looks in (("plain", plain), ("CUPED on pre-exposure purchases", adjusted)):
        c, t = looks.control, looks.treatment
        with np.errstate(divide="ignore", invalid="ignore"):
            est, var = relative_lift(c.mean, c.variance, t.mean, t.variance)
            for name, rule in CUPED_METHODS:
                o = methods.run(rule, est, var, looks.n, looks.true_lift)
                out[f"{name}, {label}"] = _tally(o, reps)
    return out


def job(metric: str, lift: float, reps: int, seed: int) -> dict[str, Tally]:
    """One chunk of replications of one scenario: a tally per method."""
    if metric == "cuped":
        return cuped_job(lift, reps, seed)
    rng = np.random.default_rng(seed)
    if metric == "conversion":
        looks = streams.conversion(reps, LOOKS, PER_LOOK, BASELINE, lift, rng)
    elif metric == "revenue":
        looks = streams.revenue(reps, LOOKS, PER_LOOK, BASELINE, lift, rng)
    else:
        looks = streams.ctr(reps, LOOKS, PER_LOOK, lift, rng)
    c, t = looks.control, looks.treatment
    with np.errstate(divide="ignore", invalid="ignore"):
        est, var = relative_lift(c.mean, c.variance, t.mean, t.variance)
        # the planning variance: what a pilot of the control would give, V · N under H0
        unit = float(np.nanmedian(2 * c.variance[:, -1] / c.mean[:, -1] ** 2) * 2 * looks.n[-1])
        out: dict[str, Tally] = {}
        for m in method_list(unit, looks.naive is not None):
            e, v = est, var
            if m.name.startswith("naive") and looks.naive is not None:
                nc, nt = looks.naive
                e, v = relative_lift(nc.mean, nc.variance, nt.mean, nt.variance)
            o = methods.run(m.rule, e, v, looks.n, looks.true_lift)
            out[m.name] = _tally(o, reps)
    return out


WORKER = "worker: "  # the worker's bandit, e.g. "worker: thompson"


def bandit_job(policy: str | None, seed: int, drift: bool = False) -> bandits.BanditRun:
    if policy is not None and policy.startswith(WORKER):
        return bandits.play_worker(policy.removeprefix(WORKER), seed, drift)
    return bandits.play(policy, seed, drift)  # type: ignore[arg-type]


def _rate(k: int, n: int) -> str:
    p = k / n
    return f"{p:.3f} ± {math.sqrt(p * (1 - p) / n):.3f}"


def _scenario_jobs(quick: bool, seed: int) -> Iterable[tuple[str, float, int, int]]:
    i = 0
    for metric in METRICS:
        aa, each = REPS[metric][1 if quick else 0]
        for lift in LIFTS:
            total = aa if lift == 0 else each
            for start in range(0, total, CHUNK[metric]):
                i += 1
                yield metric, lift, min(CHUNK[metric], total - start), seed + 7919 * i


def run_study(pool: Executor, quick: bool, seed: int) -> str:
    """Run every scenario on ``pool`` and return the report."""
    specs = list(_scenario_jobs(quick, seed))
    futures = [(m, lift, pool.submit(job, m, lift, r, s)) for m, lift, r, s in specs]
    n_seeds = BANDIT_SEEDS[1 if quick else 0][0]
    policies: list[str | None] = [
        None,
        "thompson-bernoulli",
        "thompson-gaussian",
        "top-two-thompson",
        "ucb1",
        WORKER + "thompson",
        WORKER + "top-two-thompson",
    ]
    bandit_futures = [
        (p, pool.submit(bandit_job, p, seed + s)) for p in policies for s in range(n_seeds)
    ]
    drift_policies: list[str | None] = [None, "thompson-bernoulli", WORKER + "thompson"]
    drift_futures = [
        (p, pool.submit(bandit_job, p, seed + s, True))
        for p in drift_policies
        for s in range(n_seeds)
    ]
    aa_reps, effect_reps = decision_rule.REPS[1 if quick else 0]
    rule_futures = [
        (lift, pool.submit(decision_rule.play_many, seed + 104_729 * (1 + start), lift, count))
        for lift, reps in ((0.0, aa_reps), (decision_rule.MDE, effect_reps))
        for start in range(0, reps, decision_rule.CHUNK)
        for count in [min(decision_rule.CHUNK, reps - start)]
    ]
    latency_futures = [
        (ratio, pool.submit(latency.latency_job, ratio, n, s))
        for ratio, n, s in latency.jobs(quick, seed)
    ]
    alert_reps = segment_alerts.REPS[1 if quick else 0]
    alert_futures = [
        pool.submit(
            segment_alerts.play_many,
            seed + 130_363 * (1 + start),
            min(segment_alerts.CHUNK, alert_reps - start),
        )
        for start in range(0, alert_reps, segment_alerts.CHUNK)
    ]
    tallies: dict[tuple[str, float, str], Tally] = defaultdict(Tally)
    for metric, lift, future in futures:
        for name, tally in future.result().items():
            tallies[metric, lift, name].add(tally)
    runs: dict[str | None, list[bandits.BanditRun]] = defaultdict(list)
    for p, bandit_future in bandit_futures:
        runs[p].append(bandit_future.result())
    drifting: dict[str | None, list[bandits.BanditRun]] = defaultdict(list)
    for p, drift_future in drift_futures:
        drifting[p].append(drift_future.result())
    rule_runs: dict[float, list[decision_rule.RuleRun]] = defaultdict(list)
    for lift, rule_future in rule_futures:
        rule_runs[lift].extend(rule_future.result())
    rule = decision_rule.section(rule_runs[0.0], rule_runs[decision_rule.MDE], ALPHA)
    latency_tallies: dict[float, latency.LatencyTally] = defaultdict(latency.LatencyTally)
    for ratio, latency_future in latency_futures:
        latency_tallies[ratio].add(latency_future.result())
    lat = latency.render(latency_tallies)
    alerts = segment_alerts.section([r for f in alert_futures for r in f.result()])
    extra = [*rule, "", *lat, "", *alerts]
    return render(tallies, runs, quick, drifting) + "\n" + "\n".join(extra) + "\n"


TITLES = {
    "conversion": f"Purchase conversion per user (baseline {BASELINE:.0%}, Bernoulli)",
    "revenue": "Revenue per user (5 % buy; basket LogNormal(3.5, 1.5): heavy-tailed)",
    "ctr": "Click-through rate, clicks / searches, users randomised (ratio metric, delta method)",
    "cuped": (
        "Purchase conversion with CUPED on each user's pre-exposure purchases "
        f"(propensity Beta{streams.HISTORY_SHAPE}, {streams.HISTORY_VISITS} earlier visits)"
    ),
}


def render(
    tallies: dict[tuple[str, float, str], Tally],
    runs: dict[str | None, list[bandits.BanditRun]],
    quick: bool,
    drifting: dict[str | None, list[bandits.BanditRun]] | None = None,
) -> str:
    lines = [
        "# Stats validation: abgate's engine under continuous monitoring",
        "",
        "Generated by `make validate-stats` (`python -m sim.study`); do not edit by hand."
        + (" **Quick run: too few replications to read.**" if quick else ""),
        "",
        f"Design: α = {ALPHA}, two arms 50/50, a look every {PER_LOOK:,} users per arm up to "
        f"{HORIZON:,} users per arm ({LOOKS} looks); the test is on the relative lift of the "
        "treatment, the experiment stops at the first rejection. Rates are ± one standard error. "
        "*Power* counts rejections in the right direction; *users/arm* is the mean at the decision "
        "(the horizon when the test never rejects); *coverage* is the share of runs whose interval at "
        "the decision contains the true lift. Every number comes from the engine's own functions "
        "(`stats.mixture`, `stats.confidence_sequence`, `stats.group_sequential`, `stats.effects`).",
        "",
        "abgate's defaults: with a planned horizon, the group-sequential test (alpha spending); "
        "without one, the confidence sequence tuned to the expected sample size (N* from a power "
        "calculation; here the horizon, 400 000 total units). The mSPRT with its mixing variance "
        "planned from a pilot variance and the plug-in confidence sequence with the same N* are the "
        "same normal mixture (τ² = V n ρ²), so their rows agree up to the variance used; they are "
        "kept side by side as a cross-check. The group-sequential test is valid at its planned "
        "looks only: the worker acts at most once per look.",
        "",
    ]
    for metric in METRICS:
        names = sorted({k[2] for k in tallies if k[0] == metric}, key=_order)
        if not names:
            continue
        lines += [f"## {TITLES[metric]}", ""]
        lines.append(
            "| method | A/A false-positive rate | power +2 % | power +5 % | power +10 % "
            "| users/arm at decision (0 / 2 / 5 / 10 %) | coverage A/A | coverage +5 % |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for name in names:
            cells = [name]
            aa = tallies[metric, 0.0, name]
            cells.append(_rate(aa.rejected, aa.reps))
            for lift in LIFTS[1:]:
                t = tallies[metric, lift, name]
                cells.append(_rate(t.positive, t.reps))
            cells.append(
                " / ".join(
                    f"{tallies[metric, lift, name].users / tallies[metric, lift, name].reps:,.0f}"
                    for lift in LIFTS
                )
            )
            cells.append(_rate(aa.covered, aa.reps))
            five = tallies[metric, 0.05, name]
            cells.append(_rate(five.covered, five.reps))
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *_verdicts(metric, tallies, names)]
        if metric == "cuped":
            lines += _cuped_gain(tallies)
        lines.append("")
    lines += _bandit_section(runs)
    if drifting:
        lines += [
            "",
            "### The same arms with a base rate falling from 1.5× to 0.5× over the experiment",
            "",
            "Every arm's rate is multiplied by the same factor, falling linearly over the 100 "
            "periods (a novelty or seasonal effect). Plain Thompson sampling pools each arm's "
            "units across time, so an arm favoured early is credited with the early, higher "
            "base rate; the worker's bandit weights each period's means by the period's "
            "traffic, the same for every arm.",
            "",
            *_bandit_table(drifting),
        ]
    return "\n".join(lines) + "\n"


def _cuped_gain(tallies: dict[tuple[str, float, str], Tally]) -> list[str]:
    """Users to a decision and power, CUPED against plain, per test and lift."""
    out = []
    for name, _ in CUPED_METHODS:
        plain = f"{name}, plain"
        cuped = f"{name}, CUPED on pre-exposure purchases"
        if (0.05, plain) not in {(k[1], k[2]) for k in tallies}:
            continue
        parts = []
        for lift in LIFTS[1:]:
            a, b = tallies["cuped", lift, plain], tallies["cuped", lift, cuped]
            parts.append(
                f"+{lift:.0%}: power {a.positive / a.reps:.3f} → {b.positive / b.reps:.3f}, "
                f"users/arm {a.users / a.reps:,.0f} → {b.users / b.reps:,.0f} "
                f"({b.users / a.users:.2f}×)"
            )
        out.append(f"- CUPED gain, {name}: " + "; ".join(parts) + ".")
    return out


def _order(name: str) -> tuple[int, str]:
    rank = (
        "fixed-horizon z, peeked",
        "fixed-horizon z, once",
        "naive",
        "mSPRT",
        "confidence sequence, N* = 5",
        "confidence sequence",
        "group",
    )
    return next((i for i, prefix in enumerate(rank) if name.startswith(prefix)), 99), name


def _verdicts(
    metric: str, tallies: dict[tuple[str, float, str], Tally], names: list[str]
) -> list[str]:
    out = []
    for name in names:
        aa = tallies[metric, 0.0, name]
        p = aa.rejected / aa.reps
        limit = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / aa.reps)
        held = "holds" if p <= limit else "**exceeds**"
        out.append(f"- {name}: false-positive rate {p:.3f} {held} α + 2 SE = {limit:.3f}.")
    return out


def _bandit_section(runs: dict[str | None, list[bandits.BanditRun]]) -> list[str]:
    if not runs:
        return []
    lines = [
        "## Bandits",
        "",
        f"Four arms converting at {', '.join(f'{r:.2%}' for r in bandits.RATES)}; "
        f"{bandits.BATCHES} re-weightings, {bandits.PER_BATCH:,} users each; floor "
        f"{bandits.MIN_SHARE:.0%} per arm, burn-in {bandits.BURN_IN:,} users; "
        f"{len(runs[None])} seeds per policy. Regret is the expected conversions lost against "
        "always serving the best arm; *best arm found* is the arm with the highest observed "
        "rate at the end.",
        "",
        f'The *worker\'s* rows run what `kind = "bandit"` experiments run '
        "(`gateway.bandit.decide` on period-weighted rewards, `gateway.bandit.periods`): "
        "the policy on normal posteriors, one period per re-weighting, and a stop once an arm's "
        f"P(best) reaches {bandits.WORKER_STOP} with every arm at {bandits.WORKER_MIN_UNITS} "
        "units; from then on every user gets the winner (it is production), so regret covers "
        "the same users as the other rows, and *best arm found* is the arm it promoted.",
        "",
    ]
    return lines + _bandit_table(runs)


def _bandit_table(runs: dict[str | None, list[bandits.BanditRun]]) -> list[str]:
    uniform = np.mean([r.regret for r in runs[None]])
    lines = [
        "| policy | cumulative regret | vs uniform | vs plain Thompson | best arm found "
        "| users on best arm | stopped early (users at the stop) |",
        "|---|---|---|---|---|---|---|",
    ]
    thompson = np.mean([r.regret for r in runs.get("thompson-bernoulli", runs[None])])
    for policy, rs in runs.items():
        regret = np.array([r.regret for r in rs])
        found = sum(r.found_best for r in rs)
        share = np.mean([r.best_share for r in rs])
        stops = [r.stopped_users for r in rs if r.stopped_users is not None]
        stopped = (
            f"{_rate(len(stops), len(rs))} ({np.mean(stops):,.0f})"
            if policy is not None and policy.startswith(WORKER) and stops
            else "—"
        )
        lines.append(
            f"| {policy or 'uniform (A/B/n)'} | {regret.mean():.1f} ± {regret.std(ddof=1) / math.sqrt(len(rs)):.1f} "
            f"| {regret.mean() / uniform:.2f}× | {regret.mean() / thompson:.2f}× "
            f"| {_rate(found, len(rs))} | {share:.1%} | {stopped} |"
        )
    return lines
