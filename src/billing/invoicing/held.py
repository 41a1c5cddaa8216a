"""Held invoices: the ones the safety bound parked for a person to look at, and releasing or voiding them.

Releasing issues the invoice exactly as it was built (same lines, same total): the review decides whether
it goes out, not what it says. It takes the next number of the series in force on the release date.
Voiding drops it for good, with the reviewer's reason: it never gets a number, its usage stays recorded (and
counted as billed: the period is settled), and the discounts it had used are handed back, so they apply to the
account's next invoice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson

from billing.contracts.envelope import dump_event
from billing.invoicing import store
from billing.invoicing.events import Totals, issued_event
from billing.invoicing.issuing import due_date_for, series_key
from billing.invoicing.rules.numbering import format_invoice_number
from billing.platform.settings import Settings
from billing.platform.topics import INVOICES_ISSUED
from billing.platform.unit_of_work import Database, unit_of_work


class ReleaseError(LookupError):
    """The invoice cannot be released: unknown, or not held."""


_INVOICE = """
SELECT invoice_id, account_id, period_start, period_end, status, invoice_number, currency, subtotal_minor,
       discount_minor, tax_minor, credit_minor, total_minor, lines::text AS lines, is_final, created_at,
       issued_at, due_date, hold_reason
FROM invoices
"""


async def held_invoices(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    return await conn.fetch(_INVOICE + " WHERE status = 'held' ORDER BY created_at, invoice_id LIMIT $1", limit)


async def _lock_held(conn: asyncpg.Connection, invoice_id: str, otherwise: str) -> asyncpg.Record:
    """The held invoice, locked for this transaction; ReleaseError naming its state if it is not held."""
    row = await conn.fetchrow(_INVOICE + " WHERE invoice_id = $1 FOR UPDATE", invoice_id)
    if row is None:
        raise ReleaseError(f"there is no invoice {invoice_id}")
    if row["status"] == "issued":
        raise ReleaseError(f"invoice {invoice_id} is not held: it was issued as {row['invoice_number']}")
    if row["status"] != "held":
        raise ReleaseError(f"invoice {invoice_id} is not held (it is {row['status']}): {otherwise}")
    return row


async def release_held(db: Database, invoice_id: str, settings: Settings, now: datetime) -> str:
    """Issue a held invoice now: number, issue date, due date and its invoice.issued.v1 event; returns the number."""
    now = now.astimezone(UTC)
    async with unit_of_work(db) as conn:
        row = await _lock_held(conn, invoice_id, "it cannot be issued")
        series, year = series_key(settings, now)
        number = format_invoice_number(settings.invoice_series, year, await store.allocate_numbers(conn, series, 1))
        due_date = due_date_for(now, settings)
        event = issued_event(
            invoice_id=invoice_id,
            account_id=row["account_id"],
            invoice_number=number,
            period=(row["period_start"], row["period_end"]),
            issued_at=now,
            due_date=due_date,
            currency=row["currency"].strip(),
            lines=orjson.loads(row["lines"]),
            totals=Totals(
                row["subtotal_minor"], row["discount_minor"] + row["credit_minor"], row["tax_minor"], row["total_minor"]
            ),
        )
        # hold_reason stays: it records why a person had to look at this invoice.
        await conn.execute(
            "UPDATE invoices SET status = 'issued', invoice_number = $2, issued_at = $3, due_date = $4"
            " WHERE invoice_id = $1",
            invoice_id,
            number,
            now,
            due_date,
        )
        await store.enqueue_many(conn, INVOICES_ISSUED.name, [(row["account_id"].encode(), dump_event(event))])
    return number


async def void_held(db: Database, invoice_id: str, reason: str) -> int:
    """Void a held invoice; returns how many discount applications were handed back."""
    if not reason.strip():
        raise ReleaseError("a void needs a reason")
    async with unit_of_work(db) as conn:
        await _lock_held(conn, invoice_id, "only a held one can be voided")
        await conn.execute(
            "UPDATE invoices SET status = 'void', void_reason = $2 WHERE invoice_id = $1", invoice_id, reason.strip()
        )
        handed_back = await conn.fetch("DELETE FROM grant_applications WHERE invoice_id = $1 RETURNING 1", invoice_id)
    return len(handed_back)
