"""Task events built from task rows: deterministic ids, waits in whole milliseconds, valid envelopes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.care import events
from billing.care.lifecycle import make_task_id
from billing.care.rules.queue_model import QueueTask, millis_between
from billing.contracts import dump_event, parse_event
from billing.contracts.tasks import CancelCause, RequeueCause

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _task(**changes: object) -> QueueTask:
    base = QueueTask(
        task_id="tsk-1",
        kind="dispute",
        source_event_id="evt-1",
        account_id="acc-1",
        call_id=None,
        dispute_id="dsp-1",
        invoice_id="inv-1",
        reason="dispute",
        rule="dispute",
        queue="disputes",
        eligible_queues=("disputes",),
        tier=1,
        static_priority=34,
        priority=34,
        disputed_amount_minor=750,
        currency="EUR",
        state="queued",
        holder_agent_id=None,
        lease_expires_at=None,
        routed_at=T0,
        claimed_at=None,
        accepted_at=None,
        wrapping_at=None,
        completed_at=None,
        cancelled_at=None,
        cancel_cause=None,
        outcome=None,
        practice=None,
        arm=None,
        agent_tier=None,
        discount_minor=None,
        attempts=0,
        offers_rejected=0,
        offers_expired=0,
    )
    return replace(base, **changes)


def test_routed_event_carries_the_disputed_amount_and_a_stable_id() -> None:
    event = events.routed(_task())
    assert event.event_id == "tsk-1:routed"
    assert (event.payload.disputed_amount.amount_minor, event.payload.disputed_amount.currency) == (750, "EUR")
    assert parse_event(dump_event(event)) == event


def test_release_ids_differ_per_offer_and_widening_ids_per_pool() -> None:
    first = events.requeued(_task(attempts=1), RequeueCause.LEASE_EXPIRED, T0)
    second = events.requeued(_task(attempts=2), RequeueCause.LEASE_EXPIRED, T0)
    widened = events.requeued(_task(attempts=2), RequeueCause.WIDENED, T0, new_queue="supervisors")
    assert [first.event_id, second.event_id, widened.event_id] == [
        "tsk-1:lease_expired:1",
        "tsk-1:lease_expired:2",
        "tsk-1:widened:supervisors",
    ]


def test_completed_event_measures_wait_and_handle_time() -> None:
    task = _task(
        state="completed",
        holder_agent_id="agent-7",
        accepted_at=T0 + timedelta(seconds=12, milliseconds=5),
        outcome="resolved",
        practice="credit",
        arm="treatment",
        discount_minor=750,
    )
    event = events.completed(task, 2, "EUR", T0 + timedelta(minutes=5))
    # Waited 12.005 s = 12,005 ms; handled 300 s - 12.005 s = 287,995 ms.
    assert (event.payload.waited_ms, event.payload.handle_ms, event.payload.agent_tier) == (12_005, 287_995, 2)
    cancelled = events.cancelled(_task(), CancelCause.CALLER_ABANDONED, T0 + timedelta(seconds=95))
    assert (cancelled.event_id, cancelled.payload.waited_ms) == ("tsk-1:cancelled", 95_000)


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_millis_are_never_negative(offset_ms: int) -> None:
    assert millis_between(T0, T0 + timedelta(milliseconds=offset_ms)) == max(0, offset_ms)


@given(st.text(min_size=1, max_size=200), st.sampled_from(["call", "dispute", "held_invoice"]))
def test_task_ids_are_deterministic_valid_identifiers(ref: str, kind: str) -> None:
    task_id = make_task_id(kind, ref)
    assert task_id == make_task_id(kind, ref) and len(task_id) == 24
    assert parse_event(dump_event(events.routed(_task(task_id=task_id)))).payload.task_id == task_id


def test_a_second_answer_says_so_and_keeps_the_first_wait() -> None:
    first = events.accepted(
        _task(state="accepted", holder_agent_id="agent-1", attempts=1, first_accepted_at=T0 + timedelta(seconds=7)),
        T0 + timedelta(seconds=7),
    )
    again = events.accepted(
        _task(state="accepted", holder_agent_id="agent-2", attempts=2, first_accepted_at=T0 + timedelta(seconds=7)),
        T0 + timedelta(hours=3),
        answered_before=True,
    )
    # Both waited from routing (T0) to the first answer (T0 + 7 s): 7,000 ms; the attempt tells the ids apart.
    assert [(e.event_id, e.payload.waited_ms, e.payload.answered_before) for e in (first, again)] == [
        ("tsk-1:accepted:1", 7_000, False),
        ("tsk-1:accepted:2", 7_000, True),
    ]
    assert parse_event(dump_event(again)) == again


def test_a_timed_out_wrap_up_completes_with_the_system_outcome_and_the_first_wait() -> None:
    task = _task(
        state="completed",
        holder_agent_id="agent-2",
        first_accepted_at=T0 + timedelta(seconds=9),
        accepted_at=T0 + timedelta(hours=1),
        outcome="wrap_up_timed_out",
        practice="none",
        arm="not_eligible",
        discount_minor=0,
    )
    event = events.completed(task, 1, "EUR", T0 + timedelta(hours=1, minutes=30))
    # Waited 9 s to the first answer; handled from the latest acceptance (1 h) to completion (1 h 30 min): 1,800 s.
    assert (event.payload.outcome, event.payload.waited_ms, event.payload.handle_ms) == (
        "wrap_up_timed_out",
        9_000,
        1_800_000,
    )
    assert parse_event(dump_event(event)) == event
