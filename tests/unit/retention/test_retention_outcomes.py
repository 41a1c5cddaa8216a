"""Following a case to its horizons: each horizon decided once, in event time, and Kaplan-Meier counts that
always describe each resolved case exactly once, however the clock moves."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.retention.rules.outcomes import (
    CLOCK_GRACE,
    CaseProgress,
    SurvivalChange,
    churn_day,
    resolve,
)

CASE_AT = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_nothing_is_decided_before_the_first_horizon_plus_grace() -> None:
    clock = CASE_AT + 30 * DAY + CLOCK_GRACE - timedelta(seconds=1)
    step = resolve(CaseProgress(CASE_AT), None, clock)
    assert step.outcomes == ()
    assert step.next_due_at == CASE_AT + 30 * DAY


def test_a_customer_who_stays_is_retained_at_30_and_censored_there() -> None:
    step = resolve(CaseProgress(CASE_AT), None, CASE_AT + 31 * DAY)
    assert step.outcomes == ((30, True),)
    assert step.survival == (SurvivalChange(30, 0, 1),)
    assert step.next_due_at == CASE_AT + 60 * DAY


def test_a_closure_on_day_45_is_retained_at_30_then_churned_at_60_and_90() -> None:
    closed = CASE_AT + 45 * DAY + timedelta(hours=3)
    first = resolve(CaseProgress(CASE_AT), closed, CASE_AT + 31 * DAY)
    assert first.outcomes == ((30, True),)
    second = resolve(CaseProgress(CASE_AT, first.resolved_through, first.churn_day), closed, CASE_AT + 100 * DAY)
    assert second.outcomes == ((60, False), (90, False))
    # Leaves "censored at 30" and becomes "churned on day 45".
    assert second.survival == (SurvivalChange(30, 0, -1), SurvivalChange(45, 1, 0))
    assert second.churn_day == 45 and second.next_due_at is None


def test_a_closure_exactly_at_the_horizon_is_not_before_it() -> None:
    step = resolve(CaseProgress(CASE_AT), CASE_AT + 30 * DAY, CASE_AT + 31 * DAY)
    assert step.outcomes == ((30, True),)


def test_a_closure_before_the_case_is_churn_on_day_zero() -> None:
    assert churn_day(CASE_AT, CASE_AT - 2 * DAY) == 0
    step = resolve(CaseProgress(CASE_AT), CASE_AT - 2 * DAY, CASE_AT + 91 * DAY)
    assert step.outcomes == ((30, False), (60, False), (90, False))
    assert step.survival == (SurvivalChange(0, 1, 0),)


@given(
    close_after_h=st.none() | st.integers(min_value=-24 * 5, max_value=24 * 120),
    clock_steps_h=st.lists(st.integers(min_value=0, max_value=24 * 40), max_size=8),
)
def test_any_clock_path_decides_each_horizon_once_and_ends_where_one_step_ends(close_after_h, clock_steps_h):
    closed = None if close_after_h is None else CASE_AT + timedelta(hours=close_after_h)
    progress, clock = CaseProgress(CASE_AT), CASE_AT
    outcomes: list[tuple[int, bool]] = []
    survival: Counter = Counter()
    for hours in [*clock_steps_h, 24 * 200]:  # the clock only moves forward, and finally past 90 days
        clock += timedelta(hours=hours)
        step = resolve(progress, closed, clock)
        outcomes += step.outcomes
        for change in step.survival:
            survival[(change.day, "churned")] += change.churned
            survival[(change.day, "censored")] += change.censored
        # At every point the case is in exactly one Kaplan-Meier cell, or none before its first horizon.
        assert sum(survival.values()) == (1 if step.resolved_through else 0)
        progress = CaseProgress(CASE_AT, step.resolved_through, step.churn_day)
    once = resolve(CaseProgress(CASE_AT), closed, clock)
    assert outcomes == list(once.outcomes)
    assert [h for h, _ in outcomes] == [30, 60, 90]
    expected = {(c.day, "churned" if c.churned else "censored"): 1 for c in once.survival}
    assert {k: v for k, v in survival.items() if v} == expected
