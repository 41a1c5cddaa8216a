from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from billing.invoicing.rules.cycles import Cycle, cycle_for, days_in_cycle, next_cycle, previous_cycle


def test_anchor_on_the_first():
    cycle = cycle_for(1, datetime(2026, 11, 15, tzinfo=UTC))
    assert cycle == Cycle(date(2026, 11, 1), date(2026, 12, 1))
    assert days_in_cycle(cycle) == 30


def test_day_before_anchor_belongs_to_previous_month_cycle_across_new_year():
    cycle = cycle_for(15, datetime(2027, 1, 14, 23, 59, tzinfo=UTC))
    assert cycle == Cycle(date(2026, 12, 15), date(2027, 1, 15))
    assert cycle.days == 31


def test_anchor_day_itself_starts_the_cycle_and_end_is_exclusive():
    cycle = cycle_for(28, datetime(2027, 2, 28, tzinfo=UTC))
    assert cycle == Cycle(date(2027, 2, 28), date(2027, 3, 28))
    assert cycle.days == 28
    assert not cycle.contains(date(2027, 3, 28))


def test_instant_is_taken_in_utc():
    # 2026-12-01 00:30 in Berlin (UTC+1) is still 2026-11-30 in UTC.
    berlin = timezone(timedelta(hours=1))
    cycle = cycle_for(1, datetime(2026, 12, 1, 0, 30, tzinfo=berlin))
    assert cycle.start == date(2026, 11, 1)


def test_next_and_previous_cycle():
    november = Cycle(date(2026, 11, 1), date(2026, 12, 1))
    assert next_cycle(november) == Cycle(date(2026, 12, 1), date(2027, 1, 1))
    assert previous_cycle(november) == Cycle(date(2026, 10, 1), date(2026, 11, 1))
    assert previous_cycle(next_cycle(november)) == november


def test_invalid_inputs():
    with pytest.raises(ValueError, match="anchor_day"):
        cycle_for(29, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        cycle_for(1, datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time under test
    with pytest.raises(ValueError):
        Cycle(date(2026, 1, 2), date(2026, 1, 1))
