from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.identity.rules.lockout import LockoutPolicy, LockoutState, after_failure, after_success

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=5, lock_for=timedelta(minutes=30))


def fail_times(state: LockoutState, count: int, at: datetime) -> LockoutState:
    for i in range(count):
        state = after_failure(state, POLICY, at + timedelta(seconds=i))
    return state


def test_four_failures_do_not_lock() -> None:
    state = fail_times(LockoutState(), 4, T0)
    assert state.failures == 4 and not state.is_locked(T0 + timedelta(seconds=10))


def test_the_fifth_failure_locks_for_thirty_minutes_from_that_failure() -> None:
    state = fail_times(LockoutState(), 5, T0)  # the fifth at T0 + 4 s
    fifth = T0 + timedelta(seconds=4)
    assert state.locked_until == fifth + timedelta(minutes=30)
    assert state.is_locked(fifth + timedelta(minutes=29, seconds=59))
    assert not state.is_locked(fifth + timedelta(minutes=30))  # half-open: free at exactly the end


def test_a_success_resets_the_count() -> None:
    state = after_success(fail_times(LockoutState(), 4, T0))
    state = fail_times(state, 4, T0 + timedelta(minutes=1))
    assert not state.is_locked(T0 + timedelta(minutes=2))


def test_after_the_lock_ends_the_count_starts_again() -> None:
    locked = fail_times(LockoutState(), 5, T0)
    later = locked.locked_until + timedelta(seconds=1)
    state = after_failure(locked, POLICY, later)
    assert state.failures == 1 and not state.is_locked(later)


@given(outcomes=st.lists(st.booleans(), max_size=40))
def test_never_more_than_five_failures_in_a_row_without_a_lock(outcomes: list[bool]) -> None:
    """Whatever the sequence of attempts (all within one minute), a lock starts exactly when five failures
    have come in a row since the last success or lock."""
    state, in_a_row = LockoutState(), 0
    now = T0
    for passed in outcomes:
        now += timedelta(seconds=1)
        if state.is_locked(now):
            break  # the API refuses without checking while locked
        if passed:
            state, in_a_row = after_success(state), 0
        else:
            state, in_a_row = after_failure(state, POLICY, now), in_a_row + 1
        assert state.is_locked(now) == (in_a_row == 5)
