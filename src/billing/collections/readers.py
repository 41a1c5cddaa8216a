"""What other contexts read of collections: the overdue invoices behind good standing, and the account's balance.

Overdue is judged in event time by the dunning pass (src/billing/collections/dunning_runner.py): the first pass
whose clock is past an invoice's due date plus grace marks the invoice with the day it became overdue, and the
invoice counts as overdue while it has an open amount. A payment that clears it ends that at once; a
chargeback reopening it makes it count again without waiting for the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from billing.collections import store
from billing.collections.rules.statement import Statement, statement


async def mark_overdue(conn: asyncpg.Connection, account_id: str, grace_days: int, as_of: datetime) -> None:
    """Record the day each open invoice of the account became overdue, as of `as_of` (event time)."""
    await conn.execute(
        "UPDATE collection_invoices SET overdue_from = due_date + $2::int + 1 WHERE account_id = $1"
        " AND open_minor > 0 AND overdue_from IS NULL AND due_date + $2::int < ($3::timestamptz AT TIME ZONE 'UTC')::date",
        account_id,
        grace_days,
        as_of,
    )


async def overdue_invoice_count(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> int:
    """The account's invoices still open that a dunning pass has seen overdue."""
    count = await conn.fetchval(
        "SELECT count(*) FROM collection_invoices WHERE account_id = $1 AND open_minor > 0"
        " AND overdue_from IS NOT NULL",
        account_id,
    )
    return int(count)


@dataclass(frozen=True)
class OpenInvoice:
    invoice_id: str
    invoice_number: str | None
    total_minor: int
    open_minor: int
    due_date: date | None
    overdue: bool


@dataclass(frozen=True)
class AccountBalance:
    """What the customer owes: invoices - credit notes - payments + refunds + chargebacks (minor units)."""

    account_id: str
    currency: str
    balance_minor: int
    credit_minor: int  # paid ahead, consumed by the next invoice
    open_minor: int
    suspended_at: datetime | None
    open_invoices: tuple[OpenInvoice, ...]  # by due date

    def as_json(self) -> dict[str, object]:
        """The account view's `balance` (minor units; dates ISO)."""
        return {
            "currency": self.currency,
            "balance_minor": self.balance_minor,
            "credit_minor": self.credit_minor,
            "open_minor": self.open_minor,
            "suspended_since": self.suspended_at.isoformat() if self.suspended_at else None,
            "open_invoices": [
                {
                    "invoice_id": i.invoice_id,
                    "invoice_number": i.invoice_number,
                    "total_minor": i.total_minor,
                    "open_minor": i.open_minor,
                    "due_date": i.due_date.isoformat() if i.due_date else None,
                    "overdue": i.overdue,
                }
                for i in self.open_invoices
            ],
        }


async def account_balance(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> AccountBalance | None:
    """The account's balance and open invoices; None when nothing of it has reached the ledger yet."""
    row = await conn.fetchrow(
        "SELECT currency, balance_minor, credit_minor, open_minor, suspended_at FROM account_collections"
        " WHERE account_id = $1",
        account_id,
    )
    if row is None:
        return None
    invoices = await conn.fetch(
        "SELECT invoice_id, invoice_number, total_minor, open_minor, due_date, overdue_from IS NOT NULL AS overdue"
        " FROM collection_invoices WHERE account_id = $1 AND open_minor > 0 ORDER BY due_date, invoice_id",
        account_id,
    )
    return AccountBalance(
        account_id,
        row["currency"].strip(),
        row["balance_minor"],
        row["credit_minor"],
        row["open_minor"],
        row["suspended_at"],
        tuple(
            OpenInvoice(
                r["invoice_id"], r["invoice_number"], r["total_minor"], r["open_minor"], r["due_date"], r["overdue"]
            )
            for r in invoices
        ),
    )


@dataclass(frozen=True)
class AccountStatement:
    account_id: str
    currency: str
    statement: Statement
    documents: dict[str, str | None]  # entry id -> invoice number, provider reference


async def account_statement(
    conn: asyncpg.Connection | asyncpg.Pool, account_id: str, since: datetime, until: datetime
) -> AccountStatement | None:
    """Every ledger entry at or after `since` and before `until`, with the running balance; None when the
    account has nothing in the ledger. When `until` is past the last entry, the closing balance is the balance."""
    currency = await conn.fetchval("SELECT currency FROM account_collections WHERE account_id = $1", account_id)
    if currency is None:
        return None
    found = statement(await store.entries(conn, account_id), since, until)
    return AccountStatement(account_id, currency.strip(), found, await store.documents(conn, account_id))
