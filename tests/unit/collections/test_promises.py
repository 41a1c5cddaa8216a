"""The promise-to-pay rule: a date after today and at most MAX_PROMISE_DAYS away, no more than is open."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.collections.rules.promises import MAX_PROMISE_DAYS, promise_refusal

TODAY = date(2027, 3, 20)


def test_a_promise_within_the_open_amount_and_the_month_is_accepted() -> None:
    assert promise_refusal(TODAY + timedelta(days=1), 6_000, 6_000, TODAY) is None
    assert promise_refusal(TODAY + timedelta(days=MAX_PROMISE_DAYS), 1, 6_000, TODAY) is None


def test_refusals_name_their_rule() -> None:
    assert promise_refusal(TODAY + timedelta(days=5), 100, 0, TODAY).rule == "nothing_owed"
    assert promise_refusal(TODAY + timedelta(days=5), 6_001, 6_000, TODAY).rule == "promise_exceeds_open"
    assert promise_refusal(TODAY, 100, 6_000, TODAY).rule == "promise_date_passed"
    far = promise_refusal(TODAY + timedelta(days=MAX_PROMISE_DAYS + 1), 100, 6_000, TODAY)
    assert far is not None and far.rule == "promise_too_far" and "2027-04-19" in far.reason


@given(st.integers(-400, 400), st.integers(1, 10**9), st.integers(0, 10**9))
def test_accepted_exactly_inside_the_bounds(days: int, amount: int, open_minor: int) -> None:
    refusal = promise_refusal(TODAY + timedelta(days=days), amount, open_minor, TODAY)
    inside = open_minor > 0 and amount <= open_minor and 1 <= days <= MAX_PROMISE_DAYS
    assert (refusal is None) == inside
