"""Invoice, dispute and discount events -> their tables (the account history agents and reports read)."""

from __future__ import annotations

import asyncpg

from billing.contracts import Event
from billing.credits import dispute_projection as disputes
from billing.platform.records import Handler, Rejected


async def on_invoice_issued(conn: asyncpg.Connection, event: Event) -> None:
    """Our own invoices are already in ``invoices`` (the closer wrote the row with this very event in its outbox):
    their echo is a no-op. Invoices from an upstream producer are recorded in ``invoices_issued``, unless they
    would contradict an invoice this system issued."""
    p = event.payload
    ours = await conn.fetchrow(
        "SELECT invoice_id, invoice_number, status FROM invoices"
        " WHERE invoice_id = $1 OR (account_id = $2 AND period_start = $3)",
        p.invoice_id,
        p.account_id,
        p.period_start,
    )
    if ours is not None:
        _check_echo(ours, p)
        return
    inserted = await conn.fetchval(
        "INSERT INTO invoices_issued (invoice_id, account_id, invoice_number, period_start, period_end, currency,"
        " total_minor, issued_at, due_date, lines) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (invoice_id) DO NOTHING RETURNING true",
        p.invoice_id,
        p.account_id,
        p.invoice_number,
        p.period_start,
        p.period_end,
        p.currency,
        p.total_minor,
        p.issued_at,
        p.due_date,
        [line.model_dump(mode="json") for line in p.lines],
    )
    if not inserted:
        raise Rejected(f"invoice {p.invoice_id} was already issued by another event")


def _check_echo(ours: asyncpg.Record, p) -> None:
    if ours["invoice_id"] != p.invoice_id:
        raise Rejected(
            f"invoice {p.invoice_id} conflicts with invoice {ours['invoice_id']} this system issued for"
            f" {p.account_id} from {p.period_start}"
        )
    if ours["status"] != "issued" or ours["invoice_number"] != p.invoice_number:
        raise Rejected(
            f"invoice {p.invoice_id} as {p.invoice_number} contradicts our row ({ours['status']},"
            f" {ours['invoice_number']})"
        )


async def on_dispute_opened(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    inserted = await conn.fetchval(
        "INSERT INTO disputes (dispute_id, account_id, invoice_id, line_id, amount_minor, currency, reason,"
        " status, opened_at, held_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $5)"
        " ON CONFLICT (dispute_id) DO NOTHING RETURNING true",
        p.dispute_id,
        p.account_id,
        p.invoice_id,
        p.line_id,
        p.amount.amount_minor,
        p.amount.currency,
        str(p.reason),
        event.occurred_at,
    )
    if not inserted:
        raise Rejected(f"dispute {p.dispute_id} was already opened by another event")


async def on_dispute_resolved(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    if await disputes.already_resolved(conn, event):
        return  # resolved by src/billing/credits/dispute_store.py in the transaction that published this event
    row = await conn.fetchrow("SELECT account_id, status FROM disputes WHERE dispute_id = $1 FOR UPDATE", p.dispute_id)
    if row is None or row["account_id"] != p.account_id:
        raise Rejected(f"dispute {p.dispute_id} is not open for account {p.account_id}")
    if row["status"] != "open":
        raise Rejected(f"dispute {p.dispute_id} is already {row['status']}")
    await conn.execute(
        "UPDATE disputes SET status = $2, stage = $2, held_minor = 0, resolved_at = $3, credit_minor = $4,"
        " resolution_note = $5"
        " WHERE dispute_id = $1",
        p.dispute_id,
        str(p.outcome),
        event.occurred_at,
        p.credit.amount_minor if p.credit else None,
        p.reason,
    )


async def on_discount_granted(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    amount = p.amount
    inserted = await conn.fetchval(
        "INSERT INTO discount_grants (grant_id, account_id, kind, percent_bp, invoice_count, amount_minor, currency,"
        " invoice_id, reason_code, criteria, granted_by, approved_by, granted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (grant_id) DO NOTHING RETURNING true",
        p.grant_id,
        p.account_id,
        str(p.kind),
        p.percent_bp,
        p.invoice_count,
        amount.amount_minor if amount else None,
        amount.currency if amount else None,
        p.invoice_id,
        p.reason_code,
        list(p.criteria),
        p.granted_by,
        p.approved_by,
        event.occurred_at,
    )
    if not inserted:
        raise Rejected(f"grant {p.grant_id} was already recorded by another event")
    await disputes.credit_note_for_grant(conn, event)


async def on_invoice_held(conn: asyncpg.Connection, event: Event) -> None:
    """Only our closer holds invoices, and it stored the row before publishing: nothing to project. The agent
    queues consume the same event to route the review task."""
    p = event.payload
    status = await conn.fetchval("SELECT status FROM invoices WHERE invoice_id = $1", p.invoice_id)
    if status is None:
        raise Rejected(f"invoice {p.invoice_id} was not held by this system: no such invoice")


INVOICE_HANDLERS: dict[str, Handler] = {
    "invoice.issued.v1": on_invoice_issued,
    "invoice.held.v1": on_invoice_held,
    "credit_note.issued.v1": disputes.on_credit_note_issued,
}
DISPUTE_HANDLERS: dict[str, Handler] = {
    "dispute.opened.v1": on_dispute_opened,
    "dispute.routed.v1": disputes.on_dispute_step,
    "dispute.in_review.v1": disputes.on_dispute_step,
    "dispute.resolved.v1": on_dispute_resolved,
}
DISCOUNT_HANDLERS: dict[str, Handler] = {"discount.granted.v1": on_discount_granted}
