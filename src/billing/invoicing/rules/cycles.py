"""Billing cycle arithmetic.

A cycle runs from one anchor date to the next, ``end`` exclusive, so cycles
tile the calendar with no gap and no overlap. Anchor days are limited to
1..28 so every month has the anchor date and no end-of-month clamping rule
is needed. Dates are taken in UTC: an account's local time zone is a
presentation concern decided before events reach the billing core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

MIN_ANCHOR_DAY = 1
MAX_ANCHOR_DAY = 28
MONTHS_PER_YEAR = 12


@dataclass(frozen=True, order=True)
class Cycle:
    """One billing period: ``start`` inclusive, ``end`` exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"cycle end {self.end} must be after start {self.start}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def utc_date(at: datetime) -> date:
    """Calendar date of ``at`` in UTC; naive datetimes are refused as ambiguous."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC).date()


def _check_anchor_day(anchor_day: int) -> None:
    if not MIN_ANCHOR_DAY <= anchor_day <= MAX_ANCHOR_DAY:
        raise ValueError(f"anchor_day must be within {MIN_ANCHOR_DAY}..{MAX_ANCHOR_DAY}, got {anchor_day}")


def _shift_months(year: int, month: int, months: int) -> tuple[int, int]:
    shifted_year, zero_based_month = divmod(year * MONTHS_PER_YEAR + (month - 1) + months, MONTHS_PER_YEAR)
    return shifted_year, zero_based_month + 1


def _anchor_date(year: int, month: int, months_later: int, anchor_day: int) -> date:
    shifted_year, shifted_month = _shift_months(year, month, months_later)
    return date(shifted_year, shifted_month, anchor_day)


def cycle_containing(anchor_day: int, day: date) -> Cycle:
    """The cycle anchored on ``anchor_day`` that contains calendar ``day``."""
    _check_anchor_day(anchor_day)
    months_back = 0 if day.day >= anchor_day else -1
    start = _anchor_date(day.year, day.month, months_back, anchor_day)
    end = _anchor_date(start.year, start.month, 1, anchor_day)
    return Cycle(start=start, end=end)


def cycle_for(anchor_day: int, at: datetime) -> Cycle:
    """The cycle anchored on ``anchor_day`` that contains instant ``at`` (UTC)."""
    return cycle_containing(anchor_day, utc_date(at))


def next_cycle(cycle: Cycle) -> Cycle:
    """The cycle that starts where ``cycle`` ends, on the same anchor day."""
    return cycle_containing(cycle.end.day, cycle.end)


def previous_cycle(cycle: Cycle) -> Cycle:
    """The cycle that ends where ``cycle`` starts, on the same anchor day."""
    start = _anchor_date(cycle.start.year, cycle.start.month, -1, cycle.start.day)
    return Cycle(start=start, end=cycle.start)


def days_in_cycle(cycle: Cycle) -> int:
    return cycle.days
