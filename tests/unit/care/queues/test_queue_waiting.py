"""Aging and widening of a waiting task, with the default care configuration (hand-computed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.care.config import default_care_config
from billing.care.waiting import WaitingState, refresh_waiting

CARE = default_care_config()
FRESH = WaitingState(priority=10, eligible_queues=("billing",), tier=1)


def test_a_new_task_does_not_change() -> None:
    assert refresh_waiting(CARE, "billing", 10, FRESH, 14.9) is None


def test_aging_adds_a_point_per_fifteen_seconds() -> None:
    change = refresh_waiting(CARE, "billing", 10, FRESH, 61)
    # 61 s // 15 s = 4 steps -> 10 + 4 = 14; no widening before 120 s.
    assert change.new == WaitingState(14, ("billing",), 1) and change.added_pools == ()


def test_billing_widens_to_tier2_then_supervisors() -> None:
    at_120 = refresh_waiting(CARE, "billing", 10, FRESH, 120)
    # 120 // 15 = 8 -> 18; tier2 is a senior pool, so the task becomes tier-2 work.
    assert at_120.new == WaitingState(18, ("billing", "tier2"), 2) and at_120.added_pools == ("tier2",)
    at_300 = refresh_waiting(CARE, "billing", 10, at_120.new, 300)
    # 300 // 15 = 20 -> 30; supervisors added; the aging cap (40) is not reached yet.
    assert at_300.new == WaitingState(30, ("billing", "tier2", "supervisors"), 2)
    assert at_300.added_pools == ("supervisors",)
    capped = refresh_waiting(CARE, "billing", 10, at_300.new, 3600)
    assert capped.new.priority == 50 and capped.added_pools == ()


@given(st.floats(min_value=-60, max_value=7200), st.floats(min_value=0, max_value=7200))
def test_pools_only_grow_and_priority_never_falls_with_more_waiting(first: float, extra: float) -> None:
    earlier = refresh_waiting(CARE, "disputes", 30, WaitingState(30, ("disputes",), 1), first)
    state = earlier.new if earlier else WaitingState(30, ("disputes",), 1)
    later = refresh_waiting(CARE, "disputes", 30, state, max(first, 0) + extra)
    after = later.new if later else state
    assert set(state.eligible_queues) <= set(after.eligible_queues)
    assert after.priority >= state.priority and after.eligible_queues[0] == "disputes"
