"""The plan in force at an instant, the change still to come, and what a new change replaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.accounts.rules.plan_periods import PlanHistory, PlanPeriod

OPENED = datetime(2028, 1, 10, 9, tzinfo=UTC)
FEB = datetime(2028, 2, 1, tzinfo=UTC)
MAR = datetime(2028, 3, 1, tzinfo=UTC)


def history(*periods: tuple[str, datetime]) -> PlanHistory:
    return PlanHistory(tuple(PlanPeriod(plan, at, f"e{i}") for i, (plan, at) in enumerate(periods)), periods[-1][0])


def test_a_change_for_the_next_cycle_is_pending_until_it_takes_effect_and_in_force_after() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-s", FEB))
    before = plans.status(FEB - timedelta(microseconds=1))
    assert (before.plan_id, before.pending) == ("mobile-l", PlanPeriod("mobile-s", FEB, "e1"))
    assert before.pending_json() == {
        "plan_id": "mobile-s",
        "effective_at": "2028-02-01T00:00:00+00:00",
        "summary": "changes to mobile-s on 2028-02-01",
    }
    after = plans.status(FEB)
    assert (after.plan_id, after.pending) == ("mobile-s", None)


def test_before_the_opening_the_account_is_shown_on_the_plan_it_opens_on() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-s", FEB))
    assert plans.status(OPENED - timedelta(days=30)).plan_id == "mobile-l"
    assert plans.pending(OPENED - timedelta(days=30)) == PlanPeriod("mobile-s", FEB, "e1")


def test_without_any_period_stored_the_account_row_answers() -> None:
    assert PlanHistory((), "mobile-s").status(FEB).plan_id == "mobile-s"


def test_a_later_change_back_to_the_same_plan_is_not_pending() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-l", FEB), ("mobile-s", MAR))
    assert plans.pending(OPENED) == PlanPeriod("mobile-s", MAR, "e2")  # the change of February changes nothing
    assert "on 2028-03-01 10:30 UTC" in PlanPeriod("x", MAR + timedelta(hours=10, minutes=30)).summary()


def test_periods_starting_together_count_as_the_last_in_billings_order() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-s", FEB), ("mobile-m", FEB))
    assert plans.in_force(FEB) == "mobile-m"
    assert plans.pending(OPENED) == PlanPeriod("mobile-m", FEB, "e2")


def test_a_new_change_replaces_what_starts_at_or_after_its_effective_time() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-s", FEB))
    # a second "next cycle" change (the same instant) and a "now" change (earlier) both replace the pending one
    assert [p.event_id for p in plans.replaced_by(FEB)] == ["e1"]
    assert [p.event_id for p in plans.replaced_by(FEB - timedelta(days=5))] == ["e1"]
    assert plans.replaced_by(MAR) == ()


def test_a_change_changes_nothing_only_when_the_plan_from_then_on_is_already_that_one() -> None:
    plans = history(("mobile-l", OPENED), ("mobile-s", FEB))
    assert plans.changes_nothing("mobile-s", FEB)  # already scheduled
    assert not plans.changes_nothing("mobile-l", FEB)  # cancels the scheduled change
    assert not plans.changes_nothing("mobile-l", FEB - timedelta(days=5))  # "now" on L: cancels it too
    assert not plans.changes_nothing("mobile-s", FEB - timedelta(days=5))  # sooner
    assert history(("mobile-l", OPENED)).changes_nothing("mobile-l", FEB)


# hypothesis takes naive bounds and adds the zone itself
instants = st.datetimes(min_value=datetime(2027, 12, 1), max_value=datetime(2028, 6, 1), timezones=st.just(UTC))  # noqa: DTZ001


@given(
    starts=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), instants), min_size=1, max_size=6),
    change=st.tuples(st.sampled_from(["a", "b", "c"]), instants),
    probes=st.lists(instants, min_size=1, max_size=5),
)
def test_after_a_change_every_instant_before_it_keeps_its_plan_and_every_later_one_is_on_the_new_plan(
    starts, change, probes
) -> None:
    ordered = sorted(starts, key=lambda pair: pair[1])
    plans = history(*ordered)
    replaced = set(plans.replaced_by(change[1]))
    kept = tuple(p for p in plans.periods if p not in replaced)
    after = PlanHistory((*kept, PlanPeriod(change[0], change[1], "new")), change[0])
    for probe in probes:
        if probe >= change[1]:
            assert after.in_force(probe) == change[0]
            assert after.pending(probe) is None
        elif probe >= ordered[0][1]:
            assert after.in_force(probe) == plans.in_force(probe)
    assert after.changes_nothing(change[0], change[1])
