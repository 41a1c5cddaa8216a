"""Task state machine: the happy path, offers going back to the queue, and refusals."""

import pytest
from care_test_factories import T0, at

from billing.care.rules.task_states import (
    ReleaseReason,
    Task,
    TaskState,
    TaskTransitionError,
    accept,
    cancel,
    claim,
    complete,
    expire_if_due,
    reject,
    wrap_up,
)

LEASE_S = 20


def new_task() -> Task:
    return Task(task_id="t-1", queue="billing", priority=42, enqueued_at=T0)


def test_happy_path_records_every_phase() -> None:
    offered = claim(new_task(), "ann", at(5), LEASE_S)
    assert (offered.state, offered.agent_id, offered.lease_until) == (
        TaskState.RESERVED,
        "ann",
        at(25),
    )
    working = accept(offered, "ann", at(10))
    assert (working.state, working.lease_until, working.accepted_at) == (
        TaskState.ACCEPTED,
        None,
        at(10),
    )
    wrapping = wrap_up(working, "ann", at(200))
    done = complete(wrapping, "resolved", at(230))
    assert done.state is TaskState.COMPLETED
    assert (done.reserved_at, done.wrapping_at, done.completed_at) == (at(5), at(200), at(230))
    assert (done.agent_id, done.outcome, done.enqueued_at) == ("ann", "resolved", T0)


def test_complete_without_wrap_up() -> None:
    working = accept(claim(new_task(), "ann", at(0), LEASE_S), "ann", at(1))
    assert complete(working, "dropped", at(60)).state is TaskState.COMPLETED


def test_reject_returns_task_to_queue_keeping_its_age() -> None:
    back = reject(claim(new_task(), "ann", at(5), LEASE_S), "ann", at(8))
    assert (back.state, back.agent_id, back.lease_until) == (TaskState.QUEUED, None, None)
    assert (back.last_release, back.offers_rejected, back.released_at) == (
        ReleaseReason.REJECTED,
        1,
        at(8),
    )
    assert back.enqueued_at == T0  # aging continues from the original enqueue
    assert claim(back, "bob", at(9), LEASE_S).agent_id == "bob"


def test_lease_is_held_until_just_before_lease_until() -> None:
    offered = claim(new_task(), "ann", at(0), LEASE_S)  # lease_until = 0 + 20
    assert expire_if_due(offered, at(19.999)) is offered
    expired = expire_if_due(offered, at(20))
    assert (expired.state, expired.last_release, expired.offers_expired) == (
        TaskState.QUEUED,
        ReleaseReason.LEASE_EXPIRED,
        1,
    )
    with pytest.raises(TaskTransitionError, match="offered to agent 'ann' until"):
        claim(offered, "bob", at(19.999), LEASE_S)
    with pytest.raises(TaskTransitionError, match="expired at"):
        accept(offered, "ann", at(20))


def test_claim_after_lapsed_lease_counts_the_expiry_without_a_sweep() -> None:
    reclaimed = claim(claim(new_task(), "ann", at(0), LEASE_S), "bob", at(20), LEASE_S)
    assert (reclaimed.agent_id, reclaimed.lease_until, reclaimed.offers_expired) == (
        "bob",
        at(40),
        1,
    )
    with pytest.raises(TaskTransitionError, match="as agent 'ann': it is reserved for agent 'bob'"):
        accept(reclaimed, "ann", at(21))


def test_expire_if_due_leaves_other_states_alone() -> None:
    task = new_task()
    assert expire_if_due(task, at(1_000)) is task


def test_cancel_while_waiting_or_while_offered() -> None:
    assert cancel(new_task(), at(30)).cancelled_at == at(30)
    abandoned = cancel(claim(new_task(), "ann", at(0), LEASE_S), at(3))
    assert (abandoned.state, abandoned.agent_id, abandoned.lease_until) == (
        TaskState.CANCELLED,
        None,
        None,
    )


def _accepted() -> Task:
    return accept(claim(new_task(), "ann", at(0), LEASE_S), "ann", at(1))


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (
            lambda: claim(claim(new_task(), "ann", at(0), LEASE_S), "ann", at(1), LEASE_S),
            "already offered",
        ),
        (
            lambda: claim(_accepted(), "bob", at(2), LEASE_S),
            "cannot claim task t-1: it is accepted",
        ),
        (lambda: accept(new_task(), "ann", at(0)), "accept is allowed only from reserved"),
        (
            lambda: reject(claim(new_task(), "ann", at(0), LEASE_S), "bob", at(1)),
            "cannot reject task t-1 as agent 'bob'",
        ),
        (lambda: wrap_up(_accepted(), "bob", at(2)), "cannot wrap_up task t-1 as agent 'bob'"),
        (
            lambda: complete(new_task(), "resolved", at(1)),
            "complete is allowed only from accepted, wrapping",
        ),
        (lambda: complete(_accepted(), "", at(2)), "outcome must be a non-empty string"),
        (lambda: cancel(_accepted(), at(2)), "cancel is allowed only from queued, reserved"),
        (lambda: cancel(cancel(new_task(), at(1)), at(2)), "it is cancelled"),
        (lambda: claim(new_task(), "ann", at(0), 0), "lease_s must be positive"),
        (lambda: claim(new_task(), "", at(0), LEASE_S), "agent_id must be a non-empty string"),
    ],
)
def test_illegal_transitions_are_refused(attempt, message: str) -> None:
    with pytest.raises(TaskTransitionError) as raised:
        attempt()
    assert message in str(raised.value)
