"""Overdue in event time: an invoice still open after its due date plus the grace period; its state and age.

`as_of` is always an event-time instant handed in by the caller (the closer's clock, a payment's time), never the
wall clock, so a replay of old traffic ages invoices exactly as they aged then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from billing.collections.rules.allocation import InvoiceStanding


class InvoiceState(StrEnum):
    OPEN = "open"  # nothing paid yet, not overdue
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"  # still open past due date + grace (whether partly paid or not)
    PAID = "paid"


def last_day_to_pay(due_date: date, grace_days: int) -> date:
    return due_date + timedelta(days=grace_days)


def days_overdue(due_date: date | None, as_of: datetime, grace_days: int) -> int:
    """Whole days past the last day to pay (due date + grace), 0 when not past it; day 1 is the day after."""
    if due_date is None:
        return 0
    return max(0, (as_of.date() - last_day_to_pay(due_date, grace_days)).days)


def invoice_state(invoice: InvoiceStanding, as_of: datetime, grace_days: int) -> InvoiceState:
    if invoice.open_minor <= 0:
        return InvoiceState.PAID
    if days_overdue(invoice.due_date, as_of, grace_days) > 0:
        return InvoiceState.OVERDUE
    return InvoiceState.PARTIALLY_PAID if invoice.paid_minor > 0 else InvoiceState.OPEN


def overdue_invoices(
    invoices: Iterable[InvoiceStanding], as_of: datetime, grace_days: int
) -> tuple[InvoiceStanding, ...]:
    return tuple(i for i in invoices if invoice_state(i, as_of, grace_days) is InvoiceState.OVERDUE)


AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


def age_band(days: int) -> str | None:
    """The aging band of an amount `days` overdue (None when not overdue)."""
    for name, low, high in AGE_BANDS:
        if days >= low and (high is None or days <= high):
            return name
    return None


@dataclass(frozen=True)
class Aging:
    open_minor: int  # all open receivables
    overdue_by_band: dict[str, int]


def aging(invoices: Iterable[InvoiceStanding], as_of: datetime, grace_days: int) -> Aging:
    bands = {name: 0 for name, _, _ in AGE_BANDS}
    total = 0
    for invoice in invoices:
        if invoice.open_minor <= 0:
            continue
        total += invoice.open_minor
        band = age_band(days_overdue(invoice.due_date, as_of, grace_days))
        if band is not None:
            bands[band] += invoice.open_minor
    return Aging(total, bands)


DSO_WINDOW_DAYS = 90  # the sales the receivables are compared with: the last quarter's invoices


def days_sales_outstanding(open_minor: int, invoiced_minor: int, window_days: int = DSO_WINDOW_DAYS) -> float | None:
    """Days sales outstanding, the count-back-free form: open receivables / what was invoiced over the window,
    times its days; None when nothing was invoiced (undefined, not 0)."""
    if invoiced_minor <= 0:
        return None
    return open_minor / invoiced_minor * window_days
