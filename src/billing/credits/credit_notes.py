"""Credit notes in PostgreSQL: the creditable position of an invoice, and issuing a note exactly once.

Everything runs inside the caller's transaction, so the credit note, its gap-free number, the outbox event
and whatever decided the credit (a dispute resolution, a grant) commit together. A per-invoice advisory lock
serialises credits on one invoice, so two concurrent credits cannot both fit the same remaining amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from billing.accounts.facts import issued_invoice
from billing.contracts import envelope as ev
from billing.contracts.credit_notes import CreditNoteIssued, CreditSource
from billing.contracts.money import Money
from billing.credits.rules.credit import InvoiceCredit
from billing.invoicing.rules.numbering import format_invoice_number
from billing.platform.store import enqueue
from billing.platform.topics import INVOICES_ISSUED

CREDIT_NOTE_SERIES = "CN"  # numbered apart from invoices: CN-<year>-<seq>, gap-free per year


@dataclass(frozen=True)
class CreditNote:
    credit_note_id: str
    credit_note_number: str
    grant_id: str
    invoice_id: str
    amount_minor: int
    currency: str


async def lock_invoice(conn: asyncpg.Connection, invoice_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('credit:' || $1))", invoice_id)


async def invoice_credit(conn: asyncpg.Connection, invoice_id: str, account_id: str) -> InvoiceCredit | None:
    """The invoice's creditable position, or None when no issued invoice of that account has this id (ours or an
    upstream producer's: src/billing/accounts/facts.py reads both)."""
    invoice = await issued_invoice(conn, invoice_id)
    if invoice is None or invoice.account_id != account_id:
        return None
    credited = await conn.fetchval(
        "SELECT coalesce(sum(amount_minor), 0)::bigint FROM credit_notes WHERE invoice_id = $1", invoice_id
    )
    return InvoiceCredit(invoice_id, invoice.currency, invoice.total_minor, credited)


async def existing_note(conn: asyncpg.Connection, grant_id: str) -> CreditNote | None:
    row = await conn.fetchrow(
        "SELECT credit_note_id, credit_note_number, grant_id, invoice_id, amount_minor, currency"
        " FROM credit_notes WHERE grant_id = $1",
        grant_id,
    )
    return None if row is None else CreditNote(**{**dict(row), "currency": row["currency"].strip()})


@dataclass(frozen=True)
class NoteRequest:
    grant_id: str
    account_id: str
    invoice_id: str
    amount_minor: int
    currency: str
    reason: str
    issued_by: str
    source: CreditSource
    dispute_id: str | None = None


async def issue_credit_note(conn: asyncpg.Connection, note: NoteRequest, now: datetime) -> CreditNote:
    """Store and publish the credit note of ``note.grant_id``; a second call returns the first note.

    The caller has checked the amount against ``invoice_credit`` under ``lock_invoice``.
    """
    found = await existing_note(conn, note.grant_id)
    if found is not None:
        return found
    year = now.astimezone(UTC).year
    number = format_invoice_number(CREDIT_NOTE_SERIES, year, await _next_seq(conn, year))
    credit_note_id = f"cn-{note.grant_id}"[:128]
    await conn.execute(
        "INSERT INTO credit_notes (credit_note_id, credit_note_number, grant_id, dispute_id, account_id, invoice_id,"
        " amount_minor, currency, reason, issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        credit_note_id,
        number,
        note.grant_id,
        note.dispute_id,
        note.account_id,
        note.invoice_id,
        note.amount_minor,
        note.currency,
        note.reason,
        note.issued_by,
        now,
    )
    await enqueue(conn, INVOICES_ISSUED.name, note.account_id.encode(), _event_bytes(note, credit_note_id, number, now))
    return CreditNote(credit_note_id, number, note.grant_id, note.invoice_id, note.amount_minor, note.currency)


async def _next_seq(conn: asyncpg.Connection, year: int) -> int:
    """The next number of the year's series, gap-free: the series lock is held until this transaction ends,
    so a concurrent issuer waits and then sees this note; a rollback leaves no number used."""
    prefix = f"{CREDIT_NOTE_SERIES}-{year}-"
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('credit-note-series:' || $1))", prefix)
    last = await conn.fetchval(
        "SELECT max(substring(credit_note_number FROM length($1) + 1)::bigint) FROM credit_notes"
        " WHERE left(credit_note_number, length($1)) = $1",
        prefix,
    )
    return (last or 0) + 1


def _event_bytes(note: NoteRequest, credit_note_id: str, number: str, now: datetime) -> bytes:
    event = ev.CreditNoteIssuedEvent(
        event_id=f"credit-note:{note.grant_id}"[:128],
        type="credit_note.issued.v1",
        source="care/credit-notes",
        occurred_at=now,
        schema_version=1,
        payload=CreditNoteIssued(
            account_id=note.account_id,
            credit_note_id=credit_note_id,
            credit_note_number=number,
            invoice_id=note.invoice_id,
            grant_id=note.grant_id,
            source=note.source,
            dispute_id=note.dispute_id,
            amount=Money(amount_minor=note.amount_minor, currency=note.currency),
            reason=note.reason,
            issued_by=note.issued_by,
            issued_at=now,
        ),
    )
    return ev.dump_event(event)
