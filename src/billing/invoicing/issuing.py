"""Issuing a batch of closed cycles: invoice rows, invoice numbers, the issued and held events in the outbox,
grant applications, billed units and the accounts' next cycle, all in the closer's transaction.

closer.py decides what each due account's invoice is; this module only writes it. held.py uses the same
numbering (series_key) and due date when a reviewer releases a held invoice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg

from billing.contracts.envelope import InvoiceHeldEvent, dump_event
from billing.invoicing import store
from billing.invoicing.events import draft_totals, held_event, issued_event
from billing.invoicing.rules.close_model import Advance, ClosedCycle
from billing.invoicing.rules.numbering import format_invoice_number
from billing.platform.settings import Settings
from billing.platform.topics import INVOICES_ISSUED


def due_date_for(issued_at: datetime, settings: Settings) -> date:
    return issued_at.astimezone(UTC).date() + timedelta(days=settings.payment_terms_days)


def series_key(settings: Settings, issued_at: datetime) -> tuple[str, int]:
    year = issued_at.astimezone(UTC).year
    return f"{settings.invoice_series}-{year}", year


async def write_batch(
    conn: asyncpg.Connection,
    settings: Settings,
    closed_cycles: Sequence[ClosedCycle],
    advances: Sequence[Advance],
    issued_at: datetime,
) -> None:
    """Write one batch in the caller's transaction: the accounts' next cycles, billed units, invoices, numbers,
    outbox events and grant applications."""
    await store.advance_accounts(conn, advances)
    await store.mark_billed(conn, [row for closed in closed_cycles for row in closed.priced_usage])
    if not closed_cycles:
        return
    # Numbers last: the series row stays locked until commit, so concurrent batches queue only for this part.
    issuing = [closed for closed in closed_cycles if not closed.held]
    series, year = series_key(settings, issued_at)
    first = await store.allocate_numbers(conn, series, len(issuing)) if issuing else 0
    numbers = {
        closed.invoice_id: format_invoice_number(settings.invoice_series, year, first + offset)
        for offset, closed in enumerate(issuing)
    }
    due_date = due_date_for(issued_at, settings)
    await store.insert_invoices(
        conn, [_invoice_row(c, numbers.get(c.invoice_id), issued_at, due_date) for c in closed_cycles]
    )
    await store.enqueue_many(
        conn,
        INVOICES_ISSUED.name,
        [
            (closed.account.account_id.encode(), _event_bytes(closed, numbers[closed.invoice_id], issued_at, due_date))
            for closed in issuing
        ],
    )
    # A held invoice is announced on the same topic, so the agent queues route it to a reviewer as a task.
    await store.enqueue_many(
        conn,
        INVOICES_ISSUED.name,
        [
            (closed.account.account_id.encode(), dump_event(_held_event(closed, issued_at)))
            for closed in closed_cycles
            if closed.held
        ],
    )
    await store.insert_grant_applications(
        conn,
        [
            (grant_id, closed.invoice_id, amount)
            for closed in closed_cycles
            for grant_id, amount in closed.grant_applications
        ],
    )


def _invoice_row(closed: ClosedCycle, number: str | None, issued_at: datetime, due_date: date) -> tuple:
    draft, issued = closed.draft, number is not None
    return (
        closed.invoice_id,
        closed.account.account_id,
        closed.account.cycle_start,
        closed.period_end,
        "issued" if issued else "held",
        number,
        draft.currency,
        draft.subtotal_minor,
        draft.discount_minor,
        draft.tax_minor,
        draft.credit_minor,
        draft.total_minor,
        store.lines_text(closed.lines),
        draft.is_final,
        issued_at if issued else None,
        due_date if issued else None,
        closed.hold_reason,
    )


def _held_event(closed: ClosedCycle, held_at: datetime) -> InvoiceHeldEvent:
    return held_event(
        invoice_id=closed.invoice_id,
        account_id=closed.account.account_id,
        period=(closed.account.cycle_start, closed.period_end),
        held_at=held_at,
        currency=closed.draft.currency,
        total_minor=closed.draft.total_minor,
        recent_totals=closed.recent_totals,
        reason=closed.hold_reason or "",
    )


def _event_bytes(closed: ClosedCycle, number: str, issued_at: datetime, due_date: date) -> bytes:
    event = issued_event(
        invoice_id=closed.invoice_id,
        account_id=closed.account.account_id,
        invoice_number=number,
        period=(closed.account.cycle_start, closed.period_end),
        issued_at=issued_at,
        due_date=due_date,
        currency=closed.draft.currency,
        lines=closed.lines,
        totals=draft_totals(closed.draft),
    )
    return dump_event(event)
