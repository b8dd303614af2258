"""The validation study's machinery on a few replications (the full run is `make validate-stats`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.study import latency, report, streams
from sim.study.__main__ import main


def test_streams_are_cumulative_and_unbiased() -> None:
    looks = streams.conversion(200, 10, 1000, 0.05, 0.1, np.random.default_rng(0))
    assert looks.n[-1] == 10_000
    assert np.all(np.diff(looks.n) == 1000)
    assert abs(np.mean(looks.treatment.mean[:, -1]) - 0.055) < 0.002


def test_peeking_rejects_more_than_the_sequential_tests_on_the_same_data() -> None:
    tallies = report.job("conversion", 0.0, 300, seed=1)
    peeked = tallies["fixed-horizon z, peeked at every look"].rejected
    sequential = tallies[
        f"confidence sequence, N* = {report.TUNED:,} (abgate, no horizon)"
    ].rejected
    assert peeked > 3 * max(sequential, 1)
    assert all(t.reps == 300 for t in tallies.values())


def test_quick_run_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    assert main(["--quick", "--workers", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in (
        "Purchase conversion",
        "Revenue per user",
        "Click-through rate",
        "Bandits",
        "Latency guardrail",
    ):
        assert heading in text
    assert "false-positive rate" in text
    assert "The whole decision rule" in text and "realised / forecast" in text


def test_the_whole_rule_is_taken_by_the_worker_and_forecasts_its_time() -> None:
    """A few runs of the decision-rule study: a planned effect is promoted, its forecast made."""
    from sim.study import decision_rule

    runs = decision_rule.play_many(5000, decision_rule.MDE, 3)
    assert all(r.forecast is not None and r.forecast > 0 for r in runs)
    assert sum(r.action == "promote" for r in runs) >= 2
    lines = decision_rule.section(decision_rule.play_many(1000, 0.0, 2), runs, 0.05)
    assert any("A/A, 2" in line for line in lines)


def test_the_latency_guardrail_catches_a_slower_p99_and_spares_an_equal_one() -> None:
    slower = latency.latency_job(latency.REGRESSION, 3, seed=11)
    assert slower.runs == 3 and slower.breached == 3 and slower.scorings > 0
    equal = latency.latency_job(1.0, 2, seed=12)
    assert equal.runs == 2 and equal.breached == 0
    text = "\n".join(latency.render({1.0: equal, latency.REGRESSION: slower}))
    assert "false-alarm rate 0.000 ± 0.000 holds α = 0.05" in text
    assert "a +10 % p99 regression caught in 100.0% of runs" in text
