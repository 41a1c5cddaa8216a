"""Holds that end without their agent: each held state's time limit, what a lapsed hold becomes, a supervisor's
release and reassignment, and a second answer keeping the first one's time."""

import pytest
from care_test_factories import T0, at

from billing.care.rules.task_states import (
    HoldLimits,
    ReleaseReason,
    Task,
    TaskState,
    TaskTransitionError,
    accept,
    cancel,
    claim,
    complete,
    hold_ends_at,
    hold_lapsed_at,
    reassign,
    reject,
    release,
    time_out_if_due,
    wrap_up,
)

LEASE_S = 20
LIMITS = HoldLimits(handle_s=600, wrap_up_s=120)


def new_task() -> Task:
    return Task(task_id="t-1", queue="billing", priority=42, enqueued_at=T0)


def offered() -> Task:
    return claim(new_task(), "ann", at(0), LEASE_S)  # lease until 20


def working() -> Task:
    return accept(offered(), "ann", at(5))  # handling limit: 5 + 600 = 605


def wrapping() -> Task:
    return wrap_up(working(), "ann", at(300))  # wrap-up limit: 300 + 120 = 420


def test_each_held_state_has_its_own_end_and_nobody_holds_the_others() -> None:
    assert hold_ends_at(offered(), LIMITS) == at(20)
    assert hold_ends_at(working(), LIMITS) == at(605)
    assert hold_ends_at(wrapping(), LIMITS) == at(420)
    assert hold_ends_at(new_task(), LIMITS) is None
    assert hold_ends_at(complete(working(), "resolved", at(9)), LIMITS) is None
    assert hold_ends_at(cancel(new_task(), at(1)), LIMITS) is None


@pytest.mark.parametrize(("task", "end_s"), [(offered, 20), (working, 605), (wrapping, 420)])
def test_a_hold_is_half_open_like_the_lease(task, end_s: int) -> None:
    assert hold_lapsed_at(task(), at(end_s - 0.001), LIMITS) is None
    assert hold_lapsed_at(task(), at(end_s), LIMITS) == at(end_s)
    assert hold_lapsed_at(task(), at(end_s + 3600), LIMITS) == at(end_s)  # the moment it ran out, not "now"


def test_nothing_times_out_before_its_limit() -> None:
    for task in (offered(), working(), wrapping(), new_task()):
        assert time_out_if_due(task, at(19.999), LIMITS) is task


def test_a_lapsed_offer_goes_back_as_an_expired_lease() -> None:
    back = time_out_if_due(offered(), at(20), LIMITS)
    assert (back.state, back.agent_id, back.lease_until) == (TaskState.QUEUED, None, None)
    assert (back.last_release, back.offers_expired, back.released_at) == (ReleaseReason.LEASE_EXPIRED, 1, at(20))


def test_an_accepted_task_past_its_handling_limit_goes_back_to_its_queue_keeping_its_age() -> None:
    assert time_out_if_due(working(), at(604.999), LIMITS).state is TaskState.ACCEPTED
    back = time_out_if_due(working(), at(700), LIMITS)
    assert (back.state, back.agent_id, back.last_release) == (TaskState.QUEUED, None, ReleaseReason.HANDLE_TIMED_OUT)
    assert (back.enqueued_at, back.released_at, back.offers_expired, back.offers_rejected) == (T0, at(700), 0, 0)
    again = accept(claim(back, "bob", at(710), LEASE_S), "bob", at(712))
    # Bob's handling runs from his own acceptance; the caller's first wait ended at Ann's (5 s).
    assert (again.accepted_at, again.first_accepted_at) == (at(712), at(5))
    assert hold_ends_at(again, LIMITS) == at(1312)  # 712 + 600


def test_a_wrap_up_past_its_limit_is_completed_as_timed_out_when_the_limit_ran_out() -> None:
    assert time_out_if_due(wrapping(), at(419.999), LIMITS).state is TaskState.WRAPPING
    done = time_out_if_due(wrapping(), at(1000), LIMITS)
    assert (done.state, done.outcome, done.agent_id) == (TaskState.COMPLETED, "wrap_up_timed_out", "ann")
    assert done.completed_at == at(420)  # 300 + 120, whenever the sweep came by
    assert time_out_if_due(done, at(5000), LIMITS) is done


def test_a_supervisor_releases_any_held_task_and_a_revocation_does_the_same() -> None:
    for task in (offered(), working(), wrapping()):
        for reason in (ReleaseReason.RELEASED, ReleaseReason.AGENT_REVOKED):
            back = release(task, reason, at(30))
            assert (back.state, back.agent_id, back.lease_until, back.last_release) == (
                TaskState.QUEUED,
                None,
                None,
                reason,
            )
            assert (back.offers_expired, back.offers_rejected, back.enqueued_at) == (0, 0, T0)


def test_reassigning_makes_an_offer_to_the_named_agent_from_any_open_state() -> None:
    for task in (new_task(), offered(), working(), wrapping()):
        moved = reassign(task, "bob", at(400), LEASE_S)
        assert (moved.state, moved.agent_id, moved.lease_until, moved.reserved_at) == (
            TaskState.RESERVED,
            "bob",
            at(420),
            at(400),
        )
        assert moved.last_release == (None if task.state is TaskState.QUEUED else ReleaseReason.REASSIGNED)
        # Bob answers like after a claim: within the lease, or the task goes back.
        assert accept(moved, "bob", at(419)).state is TaskState.ACCEPTED
        assert time_out_if_due(moved, at(420), LIMITS).state is TaskState.QUEUED
        with pytest.raises(TaskTransitionError, match="as agent 'ann'"):
            accept(moved, "ann", at(401))


def test_an_answer_after_a_reassignment_keeps_the_first_answer() -> None:
    again = accept(reassign(working(), "bob", at(100), LEASE_S), "bob", at(101))
    assert (again.accepted_at, again.first_accepted_at) == (at(101), at(5))


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (lambda: release(new_task(), ReleaseReason.RELEASED, at(1)), "release is allowed only from accepted, reserved"),
        (lambda: release(complete(working(), "resolved", at(9)), ReleaseReason.RELEASED, at(10)), "it is completed"),
        (lambda: release(working(), ReleaseReason.REJECTED, at(10)), "for reason rejected"),
        (lambda: release(working(), ReleaseReason.HANDLE_TIMED_OUT, at(10)), "for reason handle_timed_out"),
        (lambda: reassign(cancel(new_task(), at(1)), "bob", at(2), LEASE_S), "it is cancelled"),
        (lambda: reassign(complete(working(), "resolved", at(9)), "bob", at(10), LEASE_S), "it is completed"),
        (lambda: reassign(working(), "ann", at(10), LEASE_S), "already accepted for agent 'ann'"),
        (lambda: reassign(new_task(), "", at(1), LEASE_S), "agent_id must be a non-empty string"),
        (lambda: reassign(new_task(), "bob", at(1), 0), "lease_s must be positive"),
        (lambda: reject(reassign(new_task(), "bob", at(1), LEASE_S), "ann", at(2)), "cannot reject task t-1 as agent"),
    ],
)
def test_illegal_releases_and_reassignments_are_refused(attempt, message: str) -> None:
    with pytest.raises(TaskTransitionError) as raised:
        attempt()
    assert message in str(raised.value)


@pytest.mark.parametrize(("handle_s", "wrap_up_s"), [(0, 10), (10, 0), (-1, 10)])
def test_hold_limits_are_positive(handle_s: int, wrap_up_s: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        HoldLimits(handle_s=handle_s, wrap_up_s=wrap_up_s)
