"""Payment, invoice and credit-note events -> the ledger and the account's standing (one transaction each).

Run by the record template (src/billing/platform/records.py): the event id is claimed in the same transaction,
and each document id is a second key (`ledger_entries.entry_id`, `payments.payment_id`), so a payment sent twice
under two event ids is applied once. Refusals are dead letters with their reason: unknown account, wrong
currency, a refund or chargeback larger than what remains of its payment (a negative amount never decodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import cast

import asyncpg

from billing.collections import events, store
from billing.collections.rules.dunning import DunningPolicy
from billing.collections.rules.ledger import Entry, EntryKind, entry_key
from billing.collections.rules.overdue import overdue_invoices
from billing.collections.rules.payments import payment_refusal, payment_values, reversal_refusal
from billing.contracts import Event
from billing.contracts.invoices import InvoiceIssued
from billing.contracts.payments import PaymentReceived
from billing.platform.records import Handler, Rejected


async def on_invoice_issued(conn: asyncpg.Connection, event: Event) -> None:
    p = cast(InvoiceIssued, event.payload)  # the dispatch table routes only this type here
    entry = Entry(
        entry_key(EntryKind.INVOICE, p.invoice_id),
        EntryKind.INVOICE,
        p.total_minor,
        p.issued_at,
        invoice_id=p.invoice_id,
        due_date=p.due_date,
    )
    await _record(conn, p.account_id, p.currency, entry, p.invoice_number)


async def on_credit_note_issued(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    entry = Entry(
        entry_key(EntryKind.CREDIT_NOTE, p.credit_note_id),
        EntryKind.CREDIT_NOTE,
        p.amount.amount_minor,
        p.issued_at,
        invoice_id=p.invoice_id,
    )
    await _record(conn, p.account_id, p.amount.currency, entry, p.credit_note_number)


async def _record(conn: asyncpg.Connection, account_id: str, currency: str, entry: Entry, document: str) -> None:
    _, account_currency = await store.account_of(conn, account_id)
    currency = account_currency or currency
    await store.lock_account(conn, account_id, currency)
    if await store.add_entry(conn, account_id, currency, entry, document):
        await store.recompute(conn, account_id, currency)


async def on_payment_received(policy: DunningPolicy, conn: asyncpg.Connection, event: Event) -> None:
    p = cast(PaymentReceived, event.payload)  # the dispatch table routes only this type here
    currency = await _accepting_account(conn, p.account_id, p.amount.currency)
    account = await store.lock_account(conn, p.account_id, currency)
    if not await _new_payment(conn, event, "received", p.received_at, None):
        return
    entry = Entry(
        entry_key(EntryKind.PAYMENT, p.payment_id),
        EntryKind.PAYMENT,
        p.amount.amount_minor,
        p.received_at,
        invoice_id=p.invoice_id,
        payment_id=p.payment_id,
    )
    await store.add_entry(conn, p.account_id, currency, entry, p.provider_reference)
    allocation = await store.recompute(conn, p.account_id, currency)
    # A suspended account is restored as soon as nothing is overdue any more, as of this payment's time.
    suspended = account is not None and account.suspended_at is not None
    if suspended and not overdue_invoices(allocation.invoices, p.received_at, policy.grace_days):
        await conn.execute(
            "UPDATE account_collections SET suspended_at = NULL, suspended_for = NULL WHERE account_id = $1",
            p.account_id,
        )
        await events.restored(conn, p.account_id, p.payment_id, p.received_at)


async def on_payment_failed(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    await _accepting_account(conn, p.account_id, p.amount.currency)
    await _new_payment(conn, event, "failed", p.failed_at, p.reason)


async def on_reversal(kind: EntryKind, conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    reference = p.refund_id if kind is EntryKind.REFUND else p.chargeback_id
    at = p.refunded_at if kind is EntryKind.REFUND else p.charged_back_at
    currency = await _accepting_account(conn, p.account_id, p.amount.currency)
    await store.lock_account(conn, p.account_id, currency)
    entry = Entry(entry_key(kind, reference), kind, p.amount.amount_minor, at, payment_id=p.payment_id)
    known = await conn.fetchrow(
        "SELECT payment_id, amount_minor FROM ledger_entries WHERE entry_id = $1", entry.entry_id
    )
    if known is not None:
        if (known["payment_id"], known["amount_minor"]) != (p.payment_id, p.amount.amount_minor):
            raise Rejected(f"{kind.value} {reference} was already recorded with other content")
        return
    paid = await conn.fetchrow(
        "SELECT amount_minor, currency, reversed_minor FROM payments"
        " WHERE payment_id = $1 AND account_id = $2 AND status = 'received' FOR UPDATE",
        p.payment_id,
        p.account_id,
    )
    refusal = reversal_refusal(
        paid["amount_minor"] if paid else None,
        paid["currency"].strip() if paid else None,
        paid["reversed_minor"] if paid else 0,
        p.amount.amount_minor,
        p.amount.currency,
    )
    if refusal is not None:
        raise Rejected(f"{kind.value} {reference} of payment {p.payment_id}: {refusal}")
    await conn.execute(
        "UPDATE payments SET reversed_minor = reversed_minor + $2 WHERE payment_id = $1",
        p.payment_id,
        p.amount.amount_minor,
    )
    await store.add_entry(conn, p.account_id, currency, entry, reference)
    await store.recompute(conn, p.account_id, currency)


async def _accepting_account(conn: asyncpg.Connection, account_id: str, currency: str) -> str:
    status, account_currency = await store.account_of(conn, account_id)
    refusal = payment_refusal(status, account_currency, currency)
    if refusal is not None:
        raise Rejected(f"payment for account {account_id} refused: {refusal}")
    return currency


async def _new_payment(conn: asyncpg.Connection, event: Event, status: str, at, reason: str | None) -> bool:
    """Record the payment; False when this payment id is already recorded with the same content (a repeat)."""
    p = event.payload
    values = payment_values(p, status, at)
    inserted = await conn.fetchval(
        "INSERT INTO payments (payment_id, account_id, status, amount_minor, currency, method, provider_reference,"
        " at, invoice_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (payment_id) DO NOTHING RETURNING true",
        *values,
        reason,
    )
    if inserted:
        return True
    row = await conn.fetchrow(
        "SELECT payment_id, account_id, status, amount_minor, currency, method, provider_reference, at, invoice_id"
        " FROM payments WHERE payment_id = $1",
        p.payment_id,
    )
    if row is None:  # the insert met a conflict on this very id, so the row is there: a broken invariant if not
        raise RuntimeError(f"payment {p.payment_id} conflicted on insert but cannot be read")
    stored = tuple(v.strip() if k == "currency" else v for k, v in row.items())
    if stored != values:
        raise Rejected(f"payment {p.payment_id} was already recorded with other content ({row['status']})")
    return False


async def _no_op(conn: asyncpg.Connection, event: Event) -> None:
    """Our own suspension and restoration events, echoed by the topic: collections wrote their effect already."""


def payment_handlers(policy: DunningPolicy) -> dict[str, Handler]:
    """The payment topic's handlers; a payment judges "nothing overdue any more" by the policy's grace period."""
    return {
        "payment.received.v1": partial(on_payment_received, policy),
        "payment.failed.v1": on_payment_failed,
        "payment.refunded.v1": partial(on_reversal, EntryKind.REFUND),
        "payment.charged_back.v1": partial(on_reversal, EntryKind.CHARGEBACK),
    }


ACCOUNT_HANDLERS: dict[str, Handler] = {"account.suspended.v1": _no_op, "account.restored.v1": _no_op}
_LEDGER_HANDLERS: dict[str, Handler] = {
    "invoice.issued.v1": on_invoice_issued,
    "credit_note.issued.v1": on_credit_note_issued,
}


def with_ledger(handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    """The invoice topic's handlers, each also recording its document in the ledger after its own effect, in the
    same transaction (so an invoice refused by the invoice projection never reaches the ledger)."""

    def chained(first: Handler, then: Handler) -> Handler:
        async def handle(conn: asyncpg.Connection, event: Event) -> None:
            await first(conn, event)
            await then(conn, event)

        return handle

    return {name: chained(h, _LEDGER_HANDLERS[name]) if name in _LEDGER_HANDLERS else h for name, h in handlers.items()}
