"""The worker's pure evaluation: integer sums to estimates, plan from config, carried state."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from redis.asyncio import Redis

from gateway.config import parse_experiment, parse_routing
from gateway.control.store import ConfigStore
from gateway.keys import Keys
from gateway.records import DecisionRecord, EvaluationRecord
from gateway.worker.evaluate import arm_metrics, evaluate, evaluate_all, ramp_held_s, runtime_s


def _blank() -> EvaluationRecord:
    return EvaluationRecord(
        "e", 0.0, "purchase_conversion", 0.05, 0.0, DecisionRecord("continue", None, ())
    )


BASE = {
    "key": "exp",
    "min_units_per_arm": 100,
    "min_runtime_s": 0,  # decided as soon as the data allow (the default waits a week)
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.5},
        {"name": "candidate", "model_version": "b", "weight": 0.5},
    ],
}


def _row(users: int, converters: int, rng: np.random.Generator) -> dict[str, int]:
    searches = 1 + rng.poisson(2, users)
    clicks = rng.binomial(searches, 0.3)
    cents = np.zeros(users, dtype=np.int64)
    cents[:converters] = rng.integers(500, 20000, converters)
    return {
        "users": users,
        "converters": converters,
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents * cents).sum()),
        "searches": int(searches.sum()),
        "searches_sq": int((searches * searches).sum()),
        "clicks": int(clicks.sum()),
        "clicks_sq": int((clicks * clicks).sum()),
        "clicks_x_searches": int((clicks * searches).sum()),
    }


def test_arm_metrics_from_integer_sums_match_per_user_data() -> None:
    rng = np.random.default_rng(2)
    searches = 1 + rng.poisson(2, 500)
    clicks = rng.binomial(searches, 0.3)
    cents = rng.integers(0, 10_000, 500)
    row = {
        "users": 500,
        "converters": 120,
        "revenue_cents": int(cents.sum()),
        "revenue_cents_sq": int((cents * cents).sum()),
        "searches": int(searches.sum()),
        "searches_sq": int((searches**2).sum()),
        "clicks": int(clicks.sum()),
        "clicks_sq": int((clicks**2).sum()),
        "clicks_x_searches": int((clicks * searches).sum()),
    }
    metrics = arm_metrics(row)
    assert metrics["purchase_conversion"].mean == pytest.approx(0.24)
    assert metrics["revenue_per_user"].mean == pytest.approx(cents.mean() / 100)
    assert metrics["revenue_per_user"].variance == pytest.approx((cents / 100).var(ddof=1) / 500)
    ratio = clicks.sum() / searches.sum()
    linear = (clicks - ratio * searches) / searches.mean()
    assert metrics["click_through_rate"].mean == pytest.approx(ratio)
    assert metrics["click_through_rate"].variance == pytest.approx(linear.var(ddof=1) / 500)


def test_click_metrics_per_search_from_integer_sums() -> None:
    # Two users: the first searched twice, clicked in one search, first click at position 0;
    # the second searched once, first click at position 1 (reciprocal rank 1/2), a click at
    # position 1 adds 1/log2(3) = 0.631 to DCG@10. Thousandths, as the scripts keep them.
    rows = {"searches": (2, 1), "clicked_searches": (1, 1), "rr": (1000, 500),
            "dcg": (1000, 631), "carts": (3, 0)}  # fmt: skip
    s = rows["searches"]
    row = {"users": 2, "searches": sum(s), "searches_sq": sum(x * x for x in s)}
    for name, values in rows.items():
        if name != "searches":
            row[name] = sum(values)
            row[f"{name}_sq"] = sum(v * v for v in values)
            row[f"{name}_x_searches"] = sum(v * n for v, n in zip(values, s, strict=True))
    metrics = arm_metrics(row)
    assert metrics["clicked_search_rate"].mean == pytest.approx(2 / 3)  # abandonment 1/3
    assert metrics["mrr_first_click"].mean == pytest.approx(1.5 / 3)
    assert metrics["dcg_at_10"].mean == pytest.approx(1.631 / 3)
    assert metrics["carts_per_search"].mean == pytest.approx(1.0)
    # Where clicks land, over clicks: 1/1 and 1/2 from two clicks -> 0.75.
    clicks = {"clicks": 2, "clicks_sq": 2, "rrc": 1500, "rrc_sq": 1_250_000, "rrc_x_clicks": 1500}
    assert arm_metrics(row | clicks)["mrr_clicks"].mean == pytest.approx(0.75)
    # The delta method's variance, as for clicks per search: per-user linearisation.
    rr, per_user = np.array([1.0, 0.5]), np.array(s, dtype=float)
    ratio = rr.sum() / per_user.sum()
    linear = (rr - ratio * per_user) / per_user.mean()
    assert metrics["mrr_first_click"].variance == pytest.approx(linear.var(ddof=1) / 2)


def test_tuning_is_fixed_once_and_carried() -> None:
    experiment = parse_experiment(BASE, "e")
    rng = np.random.default_rng(1)
    small = {"control": _row(50, 10, rng), "candidate": _row(50, 12, rng)}
    waiting = evaluate(experiment, small, 10)
    assert waiting.tuning_units is None and waiting.decision.action == "continue"
    stats = {"control": _row(2000, 400, rng), "candidate": _row(2000, 420, rng)}
    first = evaluate(experiment, stats, 10)
    assert (
        first.method == "confidence-sequence"
        and first.tuning_units is not None
        and first.tuning_units > 4000
    )
    again = evaluate(experiment, stats, 20, previous=replace(first, tuning_units=12345.0))
    assert again.tuning_units == 12345.0


def test_planned_horizon_uses_group_sequential_and_max_runtime_stops() -> None:
    experiment = parse_experiment(
        BASE | {"horizon_units_per_arm": 10_000, "looks": 10, "max_runtime_s": 600}, "e"
    )
    rng = np.random.default_rng(3)
    stats = {"control": _row(3000, 600, rng), "candidate": _row(3000, 600, rng)}
    record = evaluate(experiment, stats, 60, previous=replace(_blank(), look=1))
    assert record.method == "group-sequential" and record.look == 3
    assert record.tuning_units == 20_000
    expired = evaluate(experiment, stats, 601, previous=replace(_blank(), look=3))
    assert expired.decision.action == "stop-inconclusive"


def test_guardrail_results_are_reported() -> None:
    experiment = parse_experiment(
        BASE | {"guardrails": [{"metric": "click_through_rate", "margin": 0.02}]}, "e"
    )
    rng = np.random.default_rng(4)
    stats = {"control": _row(3000, 600, rng), "candidate": _row(3000, 610, rng)}
    record = evaluate(experiment, stats, 60)
    guard = record.arms[0].guardrails[0]
    assert guard.metric == "click_through_rate" and guard.breached is False


TWO = BASE | {
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.5},
        {"name": "t1", "model_version": "b", "weight": 0.5},
    ]
}


def _conv_only(users: int, converters: int) -> dict[str, int]:
    return {"users": users, "converters": converters}


@pytest.mark.parametrize("horizon", [None, 10_000])
def test_a_treatment_that_sells_nothing_is_rolled_back(horizon: int | None) -> None:
    config = TWO | ({"horizon_units_per_arm": horizon, "looks": 10} if horizon else {})
    experiment = parse_experiment(config, "e")
    stats = {"control": _conv_only(10_000, 500), "t1": _conv_only(10_000, 0)}
    record = evaluate(experiment, stats, 0)
    assert record.decision.action == "rollback", record.decision
    high = record.arms[0].effect.ci_high
    assert high is not None and high < 0


def test_a_control_that_sells_nothing_is_tested_on_the_difference() -> None:
    experiment = parse_experiment(TWO, "e")
    stats = {"control": _conv_only(10_000, 0), "t1": _conv_only(10_000, 300)}
    record = evaluate(experiment, stats, 0)
    assert record.tuning_units is not None  # planned from both arms pooled
    arm = record.arms[0]
    assert not arm.relative and arm.to_json()["relative_lift"] is None
    assert record.decision.action == "promote"
    assert "control mean is 0" in record.decision.reasons[0]


def test_every_control_user_converting_still_plans_and_tests() -> None:
    experiment = parse_experiment(TWO, "e")
    stats = {"control": _conv_only(10_000, 10_000), "t1": _conv_only(10_000, 9_000)}
    record = evaluate(experiment, stats, 0)
    assert record.decision.action == "rollback"


def test_no_variation_at_all_is_said_and_srm_still_runs() -> None:
    experiment = parse_experiment(TWO, "e")
    stats = {"control": _conv_only(10_000, 0), "t1": _conv_only(8_000, 0)}
    record = evaluate(experiment, stats, 0)
    reasons = record.decision.reasons
    assert "no variation in purchase_conversion" in reasons[0]
    assert "fewer than" not in reasons[0]
    assert record.srm_p_value is not None and record.srm_p_value < 1e-6
    assert "sample ratio mismatch" in reasons[1]


def test_an_arm_of_one_unit_warns_nothing() -> None:
    # pytest turns warnings into errors: numpy's "invalid value" used to come from 0 * inf.
    for config in (
        TWO | {"min_units_per_arm": 1},
        TWO | {"min_units_per_arm": 1, "horizon_units_per_arm": 10, "looks": 5},
    ):
        experiment = parse_experiment(config, "e")
        for stats in (
            {"control": _conv_only(1, 1), "t1": _conv_only(5, 0)},
            {"control": _conv_only(5, 1), "t1": _conv_only(1, 0)},
            {"control": _conv_only(1, 1), "t1": _conv_only(1, 0)},
        ):
            assert evaluate(experiment, stats, 0).decision.action == "continue"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_conv_only(100, 101), "101 converters but only 100 users"),
        ({"users": 10, "revenue_cents": 100, "revenue_cents_sq": 10}, "revenue_cents_sq 10"),
        ({"users": 10, "clicks": -1}, "clicks is negative"),
    ],
)
def test_inconsistent_sums_are_reported_not_acted_on(row: dict[str, int], message: str) -> None:
    experiment = parse_experiment(TWO, "e")
    record = evaluate(experiment, {"control": _conv_only(10_000, 500), "t1": row}, 0)
    assert record.decision.action == "continue"
    assert message in record.decision.reasons[0]
    assert "inconsistent" in record.decision.reasons[0]


def test_the_carried_state_round_trips_through_the_record() -> None:
    experiment = parse_experiment(TWO, "e")
    first = evaluate(
        experiment, {"control": _conv_only(20_000, 1000), "t1": _conv_only(20_000, 1200)}, 0
    )
    assert first.arms[0].significant
    stored = EvaluationRecord.from_json(first.encode())  # as the worker stores and reads it
    later = evaluate(
        experiment, {"control": _conv_only(21_000, 1050), "t1": _conv_only(21_000, 1055)}, 0, stored
    )
    assert later.arms[0].significant
    assert later.arms[0].effect.p_value <= first.arms[0].effect.p_value


def _users_with_history(users: int, lift: float, rng: np.random.Generator) -> dict[str, int]:
    """Per-user conversion that follows each user's pre-exposure purchases, as sums."""
    propensity = rng.beta(0.2, 3.8, users)
    pre = rng.binomial(20, propensity)
    converted = (rng.random(users) < np.minimum(propensity * (1 + lift), 1)).astype(np.int64)
    return {
        "users": users,
        "converters": int(converted.sum()),
        "pre_purchases": int(pre.sum()),
        "pre_purchases_sq": int((pre * pre).sum()),
        "converters_x_pre": int((converted * pre).sum()),
    }


def test_cuped_adjusts_the_primary_metric_with_pre_exposure_purchases() -> None:
    from stats.effects import cuped_estimates
    from stats.sufficient import PairStats

    rng = np.random.default_rng(5)
    experiment = parse_experiment(BASE, "experiment")
    stats = {"control": _users_with_history(4000, 0.0, rng)}
    stats["candidate"] = _users_with_history(4000, 0.1, rng)
    record = evaluate(experiment, stats, 100.0)
    assert record.cuped and record.tuning_units is not None
    # Against the engine's CUPED on the same sums: θ pooled within arms, adjusted means.
    pairs = [
        PairStats.from_int_sums(
            s["users"], s["converters"], s["pre_purchases"], s["converters"],
            s["pre_purchases_sq"], s["converters_x_pre"],
        )
        for s in (stats["control"], stats["candidate"])
    ]  # fmt: skip
    expected = cuped_estimates(pairs)
    assert record.means == pytest.approx(
        {"control": expected[0].mean, "candidate": expected[1].mean}
    )
    plain = evaluate(parse_experiment(BASE | {"cuped": False}, "experiment"), stats, 100.0)
    assert not plain.cuped and plain.means != record.means
    assert record.variance_reduction is not None and 0.05 < record.variance_reduction < 0.5
    # a narrower interval for the same data
    width = record.arms[0].effect.ci_high - record.arms[0].effect.ci_low  # type: ignore[operator]
    plain_width = plain.arms[0].effect.ci_high - plain.arms[0].effect.ci_low  # type: ignore[operator]
    assert width < plain_width


def test_cuped_is_decided_with_the_sample_size_and_kept() -> None:
    rng = np.random.default_rng(6)
    experiment = parse_experiment(BASE, "experiment")
    # No user had bought before: N* is planned without CUPED ...
    first = {v: _users_with_history(300, 0.0, rng) | {"pre_purchases": 0, "pre_purchases_sq": 0,
             "converters_x_pre": 0} for v in ("control", "candidate")}  # fmt: skip
    record = evaluate(experiment, first, 10.0)
    assert record.tuning_units is not None and not record.cuped
    # ... and it stays off once covariates appear: the test does not switch estimators.
    later = {v: _users_with_history(600, 0.0, rng) for v in ("control", "candidate")}
    assert not evaluate(experiment, later, 20.0, record).cuped
    assert evaluate(experiment, later, 20.0).cuped  # a fresh plan would have used it


def test_an_inconsistent_evaluation_does_not_switch_cuped_off() -> None:
    # Issue 20 §6 D4: the estimator is chosen once, with N*; one evaluation of sums that
    # contradict each other is not acted on and must not unchoose it.
    rng = np.random.default_rng(7)
    experiment = parse_experiment(BASE, "experiment")
    stats = {v: _users_with_history(4000, 0.0, rng) for v in ("control", "candidate")}
    first = evaluate(experiment, stats, 10.0)
    assert first.cuped and first.tuning_units is not None
    broken = stats | {"candidate": stats["candidate"] | {"converters": 10**6}}
    held = evaluate(experiment, broken, 12.0, EvaluationRecord.from_json(first.encode()))
    assert "inconsistent" in held.decision.reasons[0]
    assert held.cuped and held.tuning_units == first.tuning_units
    again = evaluate(experiment, stats, 14.0, EvaluationRecord.from_json(held.encode()))
    assert again.cuped and again.means == first.means


THREE = BASE | {
    "variants": [
        {"name": "control", "model_version": "a", "weight": 0.34},
        {"name": "t1", "model_version": "b", "weight": 0.33},
        {"name": "t2", "model_version": "c", "weight": 0.33},
    ]
}


def test_an_arm_that_sells_nothing_is_stopped_while_the_others_go_on() -> None:
    # Issue 20 §6 D2: t2 sells nothing (lift -100 %), t1 is undecided.
    experiment = parse_experiment(THREE, "e")
    stats = {
        "control": _conv_only(10_200, 510),
        "t1": _conv_only(9_900, 500),
        "t2": _conv_only(9_900, 0),
    }
    record = evaluate(experiment, stats, 0)
    decision = record.decision
    assert (decision.action, decision.stopped) == ("stop-arms", ("t2",)), decision
    assert any(r.startswith("t2 loses to control: lift -100.0%") for r in decision.reasons)
    assert "stopping t2" in decision.reasons[-1]
    assert EvaluationRecord.from_json(record.encode()).decision == decision


def test_an_arm_without_weight_in_its_phase_is_not_tested() -> None:
    # After t2 was stopped its weight is 0: it takes no users and must not block the rest.
    experiment = parse_experiment(
        THREE | {"variants": [
            {"name": "control", "model_version": "a", "weight": 0.67},
            {"name": "t1", "model_version": "b", "weight": 0.33},
            {"name": "t2", "model_version": "c", "weight": 0.0},
        ]},
        "e",
    )  # fmt: skip
    stats = {"control": _conv_only(20_100, 1_005), "t1": _conv_only(9_900, 800)}
    record = evaluate(experiment, stats, 0)
    assert [a.variant for a in record.arms] == ["t1"]
    assert "t2" not in (record.units or {})
    assert record.decision.action == "promote" and record.decision.winner == "t1"


def test_a_restarted_worker_takes_the_next_look_without_recomputing_the_earlier_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 20 §6 D6: a worker restarted at look 500 of 1 000 carries on from the record.
    from threading import Lock

    from stats import group_sequential

    experiment = parse_experiment(TWO | {"horizon_units_per_arm": 100_000, "looks": 1000}, "e")
    at_500 = evaluate(
        experiment, {"control": _conv_only(50_000, 2_500), "t1": _conv_only(50_000, 2_510)}, 0
    )
    assert at_500.look == 500
    stored = EvaluationRecord.from_json(at_500.encode())  # all that a new process has
    # No process-wide state (the recursion comes with the record), so no lock for every
    # evaluation to wait on: the old worker recomputed 500 looks under one (7.9 s here).
    assert not [v for v in vars(group_sequential).values() if isinstance(v, type(Lock()))]
    steps = []
    step = group_sequential._Recursion._next

    def counted(self: group_sequential._Recursion, t: float) -> float:
        steps.append(t)
        return step(self, t)

    monkeypatch.setattr(group_sequential._Recursion, "_next", counted)
    between = evaluate(
        experiment, {"control": _conv_only(50_050, 2_502), "t1": _conv_only(50_050, 2_512)}, 2,
        stored,
    )  # fmt: skip
    assert between.look == 500 and steps == []  # between looks: no boundary to compute
    after = evaluate(
        experiment, {"control": _conv_only(50_100, 2_505), "t1": _conv_only(50_100, 2_515)}, 4,
        EvaluationRecord.from_json(between.encode()),
    )  # fmt: skip
    assert after.look == 501 and len(steps) == 1  # one step of the recursion, not 501


async def test_the_worker_stops_a_losing_arm_in_a_new_phase_and_audits_it(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    experiment = THREE | {"key": "three", "status": "running"}
    await store.seed(parse_routing({"production": "a", "experiments": [experiment]}), "test")
    sums = {"control": _conv_only(10_200, 510), "t1": _conv_only(9_900, 500),
            "t2": _conv_only(9_900, 0)}  # fmt: skip
    await redis.hset(
        keys.shard(0).stats("three"),
        mapping={f"{v}:{k}": n for v, row in sums.items() for k, n in row.items()},
    )
    (record,) = await evaluate_all(redis, keys, store)
    assert record.decision.action == "stop-arms" and record.applied_version is not None
    _, config = await store.load()
    three = config.experiment("three")
    assert three.running and three.phase == 1
    assert [v.weight for v in three.variants] == pytest.approx([0.67, 0.33, 0.0])
    audit = (await store.audit_log(1))[0]
    assert audit["actor"] == "decision-loop" and "t2 loses to control" in audit["reason"]
    # The new phase starts with no data: nothing more to stop, and t2 is not waited for.
    (record,) = await evaluate_all(redis, keys, store)
    assert record.phase == 1 and record.decision.action == "continue"
    assert "t2" not in " ".join(record.decision.reasons)


async def test_a_paused_experiment_is_not_decided_and_paused_time_is_not_runtime(
    redis: Redis, prefix: str
) -> None:
    """Three experiments with the same winning data, first seen 5 500 s ago, that must run
    1 000 s: one never paused (decided), one paused 5 000 s of it (500 s run: waits), one
    paused now (not evaluated, not decided, no clock started)."""
    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    now = time.time()
    common = BASE | {"min_runtime_s": 1000, "status": "running"}
    experiments = [
        common | {"key": "free", "namespace_range": [0.0, 0.3]},
        common | {"key": "held", "namespace_range": [0.3, 0.6], "paused_s": 5000.0},
        common
        | {"key": "paused", "namespace_range": [0.6, 1.0], "status": "paused"}
        | {"paused_at": now - 100, "paused_by": "hand"},
    ]
    await store.seed(parse_routing({"production": "a", "experiments": experiments}), "test")
    for key in ("free", "held", "paused"):
        await redis.hset(keys.started, key, repr(now - 5500))
        await redis.hset(
            keys.shard(0).stats(key),
            mapping={
                f"{v}:{k}": n
                for v, row in {
                    "control": _conv_only(10_000, 0),
                    "candidate": _conv_only(10_000, 300),
                }.items()
                for k, n in row.items()
            },
        )
    await redis.hdel(keys.started, "paused")
    records = {r.experiment: r for r in await evaluate_all(redis, keys, store)}
    assert set(records) == {"free", "held"}
    assert records["free"].decision.action == "promote" and records["free"].runtime_s > 5000
    held = records["held"]
    assert held.decision.action == "continue" and "min_runtime" in held.decision.blocked_by
    assert 400 < held.runtime_s < 1000
    _, config = await store.load()
    assert [(e.key, e.status) for e in config.experiments] == [
        ("free", "concluded"),
        ("held", "running"),
        ("paused", "paused"),
    ]
    assert await redis.hget(keys.decisions, "paused") is None
    assert await redis.hget(keys.started, "paused") is None


def test_a_ramp_step_is_held_only_while_the_experiment_runs() -> None:
    """Started at 0 (its active clock), paused 100 s in all, read at 1 000: 900 s run. A step
    started at 500 and moved on at resume by a 100 s pause after it: held 400 s."""
    ramp = {"ramp": [{"coverage": 0.1, "hold_s": 600}, {"coverage": 1.0}]}
    seeded = parse_experiment(BASE | ramp | {"paused_s": 100.0}, "e")  # step start unknown: 0
    assert runtime_s(seeded, 0.0, 1000.0) == 900.0
    assert ramp_held_s(seeded, 0.0, 1000.0) == 900.0
    stepped = replace(seeded, ramp_step_started_at=600.0)
    assert ramp_held_s(stepped, 0.0, 1000.0) == 400.0
    paused = parse_experiment(
        BASE | {"status": "paused", "paused_at": 950.0, "paused_by": "hand", "paused_s": 100.0},
        "e",
    )
    assert runtime_s(paused, 0.0, 1000.0) == 850.0  # the current pause is not runtime either


async def test_a_slower_treatment_is_rolled_back_by_the_latency_test_with_its_figures(
    redis: Redis, prefix: str
) -> None:
    """The gateways' counts in Redis (keys.ops), read by the worker: a candidate whose every
    scoring is slower than the control's p99 could be is rolled back, the record carrying
    both arms' figures and the test; the stored evaluation has them too."""
    from gateway.ops.histogram import EDGES_MS, bucket, latency_field

    keys = Keys(prefix)
    store = ConfigStore(redis, keys)
    await store.seed(
        parse_routing({"production": "a", "experiments": [BASE | {"status": "running"}]}), "t"
    )
    _, config = await store.load()
    counts = {"control:requests": 2000, f"control:{latency_field(2.0)}": 1990,
              f"control:{latency_field(2.5)}": 10, "candidate:requests": 500,
              "candidate:errors": 5, f"candidate:{latency_field(20.0)}": 495}  # fmt: skip
    ops_key = keys.ops(config.experiment("exp").stats_id)
    await redis.hset(ops_key, mapping={name: n for name, n in counts.items()})
    (record,) = await evaluate_all(redis, keys, store)
    assert record.decision.action == "rollback" and record.decision.winner == "control"
    assert record.decision.reasons[0].startswith(
        "operational guardrail: candidate scores slower than control: p99 "
    ), record.decision.reasons
    control, candidate = record.ops
    assert (control.variant, control.requests, control.errors, control.latency) == (
        "control",
        2000,
        0,
        None,
    )
    assert candidate.error_rate == 0.01 and candidate.p99_ms is not None
    assert candidate.p99_ms >= 20.0 > candidate.p99_ms / 1.05
    assert candidate.latency is not None and candidate.latency.breached
    assert candidate.latency.margin == 3.0 and candidate.latency.ci_low > 3.0
    assert control.p50_ms == EDGES_MS[bucket(2.0)]
    stored = EvaluationRecord.from_json(await redis.hget(keys.decisions, "exp") or b"{}")
    assert stored.ops == record.ops
    _, config = await store.load()
    assert config.experiment("exp").status == "concluded"
