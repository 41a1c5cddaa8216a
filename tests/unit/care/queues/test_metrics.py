"""Queue service metrics, pure part: which counter each task event moves, event-time windows, and cells that
count every task event once whatever the broker redelivers or the outbox re-sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.care.rules.queue_metrics import (
    Cell,
    Contribution,
    Effect,
    cell_from_state,
    cell_to_state,
    contribution_of,
    decide,
    is_retained,
    record,
    seconds_up,
    stats_from_state,
    stats_to_state,
    window_start,
)
from billing.care.rules.service_level import QueueStats
from billing.contracts import envelope as ev
from billing.contracts.tasks import (
    CancelCause,
    HoldoutArm,
    Practice,
    RequeueCause,
    TaskAccepted,
    TaskCancelled,
    TaskCompleted,
    TaskKind,
    TaskOutcome,
    TaskRequeued,
    TaskRouted,
    Tier,
)

T0 = datetime(2026, 11, 3, 9, 7, 30, tzinfo=UTC)
TASK = {"task_id": "tsk-1", "account_id": "acc-1", "queue": "billing"}


def _env(event_id: str, at: datetime = T0) -> dict[str, object]:
    return {"event_id": event_id, "source": "care/queues", "occurred_at": at, "schema_version": 1}


def _accepted(waited_ms: int) -> ev.TaskAcceptedEvent:
    return ev.TaskAcceptedEvent(
        **_env("e-acc"), type="task.accepted.v1", payload=TaskAccepted(**TASK, agent_id="agent-1", waited_ms=waited_ms)
    )


def _cancelled(cause: CancelCause, waited_ms: int) -> ev.TaskCancelledEvent:
    return ev.TaskCancelledEvent(
        **_env("e-can"), type="task.cancelled.v1", payload=TaskCancelled(**TASK, cause=cause, waited_ms=waited_ms)
    )


def _completed(handle_ms: int) -> ev.TaskCompletedEvent:
    return ev.TaskCompletedEvent(
        **_env("e-com"),
        type="task.completed.v1",
        payload=TaskCompleted(
            **TASK,
            agent_id="agent-1",
            agent_tier=Tier.FRONTLINE,
            kind=TaskKind.CALL,
            outcome=TaskOutcome.RESOLVED,
            practice=Practice.NONE,
            arm=HoldoutArm.NOT_ELIGIBLE,
            discount_minor=0,
            currency="EUR",
            waited_ms=5_000,
            handle_ms=handle_ms,
            opened_at=T0,
        ),
    )


def test_each_task_event_moves_its_counter_with_waits_rounded_up_to_seconds() -> None:
    routed = ev.TaskRoutedEvent(
        **_env("e-r"),
        type="task.routed.v1",
        payload=TaskRouted(
            **TASK, kind=TaskKind.CALL, tier=Tier.FRONTLINE, priority=10, reason="bill_question", rule="default"
        ),
    )
    assert contribution_of(routed) == Contribution("billing", Effect.ENTERED, 0, T0)
    # 20,000 ms is 20 s (within a 20 s threshold); 20,001 ms rounds up to 21 s (not within).
    assert contribution_of(_accepted(20_000)).seconds == 20
    assert contribution_of(_accepted(20_001)) == Contribution("billing", Effect.ANSWERED, 21, T0)
    assert contribution_of(_cancelled(CancelCause.CALLER_ABANDONED, 8_000)) == Contribution(
        "billing", Effect.ABANDONED, 8, T0
    )
    assert contribution_of(_completed(312_000)) == Contribution("billing", Effect.COMPLETED, 312, T0)


def test_requeues_and_cancellations_that_are_not_hang_ups_move_nothing() -> None:
    requeued = ev.TaskRequeuedEvent(
        **_env("e-q"),
        type="task.requeued.v1",
        payload=TaskRequeued(**TASK, cause=RequeueCause.WIDENED, new_queue="tier2"),
    )
    assert contribution_of(requeued) is None
    assert contribution_of(_cancelled(CancelCause.SUPERSEDED, 8_000)) is None
    assert contribution_of(_cancelled(CancelCause.ACCOUNT_CLOSED, 8_000)) is None


def test_a_second_answer_and_the_new_requeue_causes_move_nothing() -> None:
    """A task that went back after an agent had it (timed out, revoked, released, reassigned) was answered
    already: its next answer is not a second answer in the service level."""
    again = ev.TaskAcceptedEvent(
        **_env("e-acc-2"),
        type="task.accepted.v1",
        payload=TaskAccepted(**TASK, agent_id="agent-2", waited_ms=5_000, answered_before=True),
    )
    assert contribution_of(again) is None
    for cause in (
        RequeueCause.HANDLE_TIMED_OUT,
        RequeueCause.AGENT_REVOKED,
        RequeueCause.RELEASED,
        RequeueCause.REASSIGNED,
    ):
        requeued = ev.TaskRequeuedEvent(
            **_env("e-q"), type="task.requeued.v1", payload=TaskRequeued(**TASK, cause=cause)
        )
        assert contribution_of(requeued) is None


def test_seconds_up() -> None:
    assert [seconds_up(ms) for ms in (0, 1, 999, 1000, 1001, 60_000)] == [0, 1, 1, 1, 2, 60]


def test_windows_are_epoch_aligned_and_retained_until_they_end_before_the_retention() -> None:
    # 09:07:30 lies in the 5-minute window 09:05:00-09:10:00.
    start = window_start(T0, 300)
    assert start == datetime(2026, 11, 3, 9, 5, tzinfo=UTC)
    assert window_start(start, 300) == start
    # Retention 1 h: the window ends at 09:10; kept while 09:10 - 1 s margin > now - 1 h, i.e. until 10:09:59.
    assert is_retained(start, 300, datetime(2026, 11, 3, 10, 9, 58, tzinfo=UTC), 3600)
    assert not is_retained(start, 300, datetime(2026, 11, 3, 10, 9, 59, tzinfo=UTC), 3600)


def _entered(event_id: str = "e-1") -> Contribution:
    return Contribution("billing", Effect.ENTERED, 0, T0)


def test_a_redelivered_record_is_counted_once_in_each_cell() -> None:
    first = decide(Cell(), Cell(), _entered(), "e-1", offset=7)
    assert first.window is not None and first.total is not None
    assert (first.window.stats.entered, first.window.next_offset, dict(first.window.counted)) == (1, 8, {"e-1": 7})
    assert first.total.counted == {}  # the all-time cell keeps no ids; its watermark is enough for replays
    again = decide(first.window, first.total, _entered(), "e-1", offset=7)
    assert again.window is None and again.total is None


def test_a_re_sent_copy_at_a_new_offset_is_not_counted() -> None:
    first = decide(Cell(), Cell(), _entered(), "e-1", offset=7)
    copy = decide(first.window, first.total, _entered(), "e-1", offset=12)
    assert copy.window is None and copy.total is None


def test_a_crash_between_the_two_cells_is_repaired_by_the_replay() -> None:
    first = decide(Cell(), Cell(), _entered(), "e-1", offset=7)
    # The window cell reached the changelog, the all-time cell did not; the record is delivered again.
    replay = decide(first.window, Cell(), _entered(), "e-1", offset=7)
    assert replay.window is None
    assert replay.total is not None and replay.total.stats.entered == 1


def test_an_event_past_retention_counts_in_the_total_only() -> None:
    update = decide(None, Cell(), _entered(), "e-1", offset=3)
    assert update.window is None and update.total is not None and update.total.stats.entered == 1


def test_cells_and_stats_survive_their_json_form() -> None:
    stats = record(record(QueueStats.empty(), _entered()), Contribution("billing", Effect.ANSWERED, 25, T0))
    cell = Cell(stats=stats, next_offset=9, counted={"e-1": 8})
    assert cell_from_state(cell_to_state(cell)) == cell
    assert stats_from_state(stats_to_state(stats)) == stats
    assert cell_from_state(None) == Cell() == cell_from_state({})


# --- the property: whatever is redelivered or re-sent, the counts are those of the distinct events ---------

_effects = st.sampled_from(list(Effect))
_events = st.lists(st.tuples(_effects, st.integers(0, 400), st.integers(0, 3)), min_size=1, max_size=25)


@st.composite
def _deliveries(draw: st.DrawFn) -> tuple[list[tuple[str, Contribution]], list[tuple[int, str, Contribution]], list]:
    """Distinct events, the log they end up in (with re-sent copies appended at later offsets), and crash plans."""
    raw = draw(_events)
    distinct = [
        (f"e-{i}", Contribution("billing", effect, secs, T0 + timedelta(minutes=5 * window)))
        for i, (effect, secs, window) in enumerate(raw)
    ]
    copies = draw(st.lists(st.sampled_from(distinct), max_size=6))
    log = [(offset, eid, c) for offset, (eid, c) in enumerate([*distinct, *copies])]
    # Each crash: after handling log index `at`, maybe losing the all-time write, rewind to offset `back`.
    crashes = draw(
        st.lists(st.tuples(st.integers(0, len(log) - 1), st.booleans(), st.integers(0, len(log) - 1)), max_size=4)
    )
    return distinct, log, crashes


@given(_deliveries())
def test_counts_equal_those_of_the_distinct_events_under_replays_copies_and_crashes(case) -> None:
    distinct, log, crashes = case
    windows: dict[datetime, Cell] = {}
    total = Cell()
    pending = sorted(crashes)
    position = 0
    while position < len(log):
        offset, event_id, contribution = log[position]
        start = window_start(contribution.occurred_at, 300)
        update = decide(windows.get(start, Cell()), total, contribution, event_id, offset)
        crash = pending.pop(0) if pending and pending[0][0] == position else None
        if update.window is not None:
            windows[start] = update.window
        if update.total is not None and not (crash and crash[1]):
            total = update.total
        # A crash rewinds to an earlier committed offset (never beyond the current record).
        position = min(crash[2], position) if crash else position + 1

    expected = QueueStats.empty()
    for _, contribution in distinct:
        expected = record(expected, contribution)
    merged = QueueStats.empty()
    for cell in windows.values():
        merged = merged.merge(cell.stats)
    assert merged == expected
    assert total.stats == expected
