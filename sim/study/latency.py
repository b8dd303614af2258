"""The latency guardrail under continuous monitoring: its false-alarm rate when both arms
score alike, and how often and how soon it catches a treatment whose p99 is 10 % slower.

Each run draws two arms' scoring times (log-normal, σ = 0.5, the control's median placed at
random within a doubling so that the buckets' edges fall anywhere against the quantiles),
counts them into the gateways' own histogram (``gateway.ops.histogram``) and runs the
worker's test (``gateway.ops.guardrails.latency_p_value``, the p-value of ``latency_test``) at every look, stopping at the first
breach, as the worker would roll the treatment back. The margin is 1: a p99 any slower than
the control's is a breach, the hardest setting for the false-alarm rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as distributions

from gateway.ops.guardrails import ArmOps, OpsLimits, latency_p_value
from gateway.ops.histogram import EDGES_MS

ALPHA = 0.05
SIGMA = 0.5
MEDIAN_MS = 5.0
PER_LOOK = 5_000  # scorings per arm between looks
LOOKS = 20  # up to 100 000 scorings per arm
REGRESSION = 1.10  # the treatment's scoring times (so its p99) 10 % longer
REPS = ((1_000, 500), (10, 5))  # (equal latencies, regression): full and quick
CHUNK = 50
LIMITS = OpsLimits(max_latency_ratio=1.0, alpha=ALPHA)


@dataclass
class LatencyTally:
    runs: int = 0
    breached: int = 0
    scorings: float = 0.0  # per arm, at the breach

    def add(self, other: LatencyTally) -> None:
        self.runs += other.runs
        self.breached += other.breached
        self.scorings += other.scorings


def _bucket_probabilities(median_ms: float) -> np.ndarray:
    cdf = distributions.lognorm.cdf(np.asarray(EDGES_MS), SIGMA, scale=median_ms)
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def latency_job(ratio: float, runs: int, seed: int) -> LatencyTally:
    """``runs`` monitored experiments with the treatment ``ratio`` times slower."""
    rng = np.random.default_rng(seed)
    tally = LatencyTally()
    for _ in range(runs):
        median = MEDIAN_MS * 2 ** rng.uniform(0.0, 1.0)
        control_p, treatment_p = (
            _bucket_probabilities(median),
            _bucket_probabilities(median * ratio),
        )
        control = np.zeros(len(EDGES_MS) + 1, dtype=np.int64)
        treatment = np.zeros_like(control)
        tally.runs += 1
        for look in range(1, LOOKS + 1):
            control += rng.multinomial(PER_LOOK, control_p)
            treatment += rng.multinomial(PER_LOOK, treatment_p)
            c = ArmOps(int(control.sum()), 0, dict(enumerate(control.tolist())))
            t = ArmOps(int(treatment.sum()), 0, dict(enumerate(treatment.tolist())))
            if latency_p_value(c, t, LIMITS) <= ALPHA:
                tally.breached += 1
                tally.scorings += look * PER_LOOK
                break
    return tally


def jobs(quick: bool, seed: int) -> list[tuple[float, int, int]]:
    """(ratio, runs, seed) for each chunk of runs."""
    equal, slower = REPS[1 if quick else 0]
    out: list[tuple[float, int, int]] = []
    for ratio, total in ((1.0, equal), (REGRESSION, slower)):
        for start in range(0, total, CHUNK):
            out.append((ratio, min(CHUNK, total - start), seed + 104_729 * (len(out) + 1)))
    return out


def _rate(k: int, n: int) -> tuple[float, float]:
    p = k / n
    return p, math.sqrt(p * (1 - p) / n)


def render(tallies: dict[float, LatencyTally]) -> list[str]:
    equal, slower = tallies[1.0], tallies[REGRESSION]
    false_alarm, fa_se = _rate(equal.breached, equal.runs)
    power, power_se = _rate(slower.breached, slower.runs)
    at = f"{slower.scorings / slower.breached:,.0f}" if slower.breached else "—"
    held = "holds" if false_alarm <= ALPHA else "**exceeds**"
    return [
        "## Latency guardrail (p99, always valid)",
        "",
        f"The worker's latency test (`stats.quantile_sequence`, Howard & Ramdas 2022) on the "
        f"gateways' histogram (16 buckets to a doubling), looked at every {PER_LOOK:,} "
        f"scorings per arm up to {PER_LOOK * LOOKS:,}, stopping at the first breach; scoring "
        f"times log-normal (σ = {SIGMA}), the control's median at random in "
        f"[{MEDIAN_MS:g}, {2 * MEDIAN_MS:g}] ms; margin 1 (any slower p99 is a breach), "
        f"α = {ALPHA}. Rates are ± one standard error.",
        "",
        "| scenario | runs | breached | scorings per arm at the breach (mean) |",
        "|---|---|---|---|",
        f"| equal latencies | {equal.runs} | {false_alarm:.3f} ± {fa_se:.3f} | — |",
        f"| treatment +10 % (p99 +10 %) | {slower.runs} | {power:.3f} ± {power_se:.3f} | {at} |",
        "",
        f"- latency guardrail: false-alarm rate {false_alarm:.3f} ± {fa_se:.3f} {held} "
        f"α = {ALPHA} (at every look: the test is always valid; the buckets' conservative "
        "edges make it stricter still).",
        f"- latency guardrail: a +10 % p99 regression caught in {power:.1%} of runs within "
        f"{PER_LOOK * LOOKS:,} scorings per arm.",
    ]
