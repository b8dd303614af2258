"""The retry schedule of held outcomes, pure: backoff, wake-ups, giving up, the bound."""

from __future__ import annotations

from gateway.records import OutcomeRecord
from gateway.worker.retry_schedule import RetrySchedule


def _event(sid: str) -> OutcomeRecord:
    return OutcomeRecord(event_id=f"e-{sid}", type="click", search_id=sid, user_id="u")


def test_backoff_doubles_up_to_the_cap_and_stops_at_the_give_up_time() -> None:
    schedule = RetrySchedule(first_delay_s=0.25, max_delay_s=2.0, give_up_after_s=10.0)
    schedule.hold(b"1", _event("s"), now=0.0)
    tries = []
    now = 0.0
    while True:
        due = schedule.next_due()
        assert due is not None
        now = due
        (held,) = schedule.take_due(now, 10)
        tries.append(now)
        if not schedule.retry_later(held, now):
            break
    assert tries == [0.25, 0.75, 1.75, 3.75, 5.75, 7.75, 9.75, 10.0]
    assert len(schedule) == 0 and schedule.next_due() is None


def test_wake_makes_only_that_search_due_now() -> None:
    schedule = RetrySchedule()
    schedule.hold(b"1", _event("a"), now=0.0)
    schedule.hold(b"2", _event("b"), now=0.0)
    schedule.hold(b"3", _event("a"), now=0.0)
    assert schedule.take_due(0.0, 10) == []
    assert schedule.wake(["a", "zzz"], now=0.1) == 2
    assert sorted(h.entry_id for h in schedule.take_due(0.1, 10)) == [b"1", b"3"]
    assert schedule.next_due() == 0.25  # b is still on its own schedule


def test_done_forgets_and_full_is_the_bound() -> None:
    schedule = RetrySchedule(capacity=2)
    schedule.hold(b"1", _event("a"), now=0.0)
    assert not schedule.full
    schedule.hold(b"2", _event("a"), now=0.0)
    assert schedule.full and b"1" in schedule
    (first, second) = schedule.take_due(1.0, 10)
    schedule.done(first)
    assert not schedule.full and first.entry_id not in schedule
    # The other is in flight, on a lease: a wake makes it due at once (tries are idempotent).
    assert schedule.wake(["a"], now=1.0) == 1
    schedule.done(second)
    assert len(schedule) == 0 and schedule.next_due() is None


def test_a_try_that_never_reports_back_is_tried_again() -> None:
    """Taken but neither retried nor done (the Redis call raised): due again after the lease,
    woken by its exposure meanwhile, and still given up at the bound."""
    schedule = RetrySchedule(first_delay_s=0.25, give_up_after_s=10.0)
    schedule.hold(b"1", _event("s"), now=0.0)
    (held,) = schedule.take_due(0.25, 10)
    assert schedule.next_due() == 0.5 and b"1" in schedule
    assert schedule.take_due(0.4, 10) == []
    assert schedule.wake(["s"], now=0.45) == 1
    assert schedule.take_due(0.45, 10) == [held]
    assert not schedule.retry_later(held, 10.0)
    assert len(schedule) == 0 and schedule.next_due() is None


def test_a_purchase_at_checkout_waits_its_shorter_hold_and_no_search_wakes_it() -> None:
    schedule = RetrySchedule(first_delay_s=0.25, give_up_after_s=30.0, checkout_give_up_s=2.0)
    checkout = OutcomeRecord(event_id="p", type="purchase", search_id="", user_id="u")
    schedule.hold(b"1", checkout, now=0.0)
    assert schedule.wake([""], now=0.1) == 0
    tries = []
    while (due := schedule.next_due()) is not None:
        (held,) = schedule.take_due(due, 10)
        tries.append(due)
        if not schedule.retry_later(held, due):
            break
    assert tries == [0.25, 0.75, 1.75, 2.0] and len(schedule) == 0
