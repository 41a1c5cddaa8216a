"""The ledger in PostgreSQL: entries in, the account's standing (balance, credit, invoices) recomputed out.

Every function runs in the caller's transaction. The account's `account_collections` row is locked first, so
the projection of one account's events and a dunning pass over it never interleave; the standing is then
recomputed from all of the account's entries by the pure allocation and written over the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from billing.accounts.facts import profile
from billing.collections.rules.allocation import Allocation, allocate
from billing.collections.rules.ledger import KIND_OF, Entry


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    currency: str
    suspended_at: datetime | None
    closed_for_non_payment_at: datetime | None


async def lock_account(
    conn: asyncpg.Connection, account_id: str, currency: str, *, skip_locked: bool = False
) -> AccountRow | None:
    """The account's collections row, created if new and locked; None only when skip_locked found it busy."""
    await conn.execute(
        "INSERT INTO account_collections (account_id, currency) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        account_id,
        currency,
    )
    row = await conn.fetchrow(
        "SELECT account_id, currency, suspended_at, closed_for_non_payment_at FROM account_collections"
        f" WHERE account_id = $1 FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        account_id,
    )
    if row is None:
        return None
    return AccountRow(row["account_id"], row["currency"].strip(), row["suspended_at"], row["closed_for_non_payment_at"])


async def add_entry(
    conn: asyncpg.Connection, account_id: str, currency: str, entry: Entry, document: str | None = None
) -> bool:
    """Record the entry; False when that document is already in the ledger."""
    inserted = await conn.fetchval(
        "INSERT INTO ledger_entries (entry_id, account_id, kind, amount_minor, currency, at, invoice_id, payment_id,"
        " due_date, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (entry_id) DO NOTHING RETURNING true",
        entry.entry_id,
        account_id,
        entry.kind.value,
        entry.amount_minor,
        currency,
        entry.at,
        entry.invoice_id,
        entry.payment_id,
        entry.due_date,
        document,
    )
    return bool(inserted)


async def entries(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> list[Entry]:
    rows = await conn.fetch(
        "SELECT entry_id, kind, amount_minor, at, invoice_id, payment_id, due_date FROM ledger_entries"
        " WHERE account_id = $1",
        account_id,
    )
    return [
        Entry(
            r["entry_id"],
            KIND_OF[r["kind"]],
            r["amount_minor"],
            r["at"],
            r["invoice_id"],
            r["payment_id"],
            r["due_date"],
        )
        for r in rows
    ]


async def documents(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> dict[str, str | None]:
    rows = await conn.fetch("SELECT entry_id, document FROM ledger_entries WHERE account_id = $1", account_id)
    return {r["entry_id"]: r["document"] for r in rows}


async def recompute(conn: asyncpg.Connection, account_id: str, currency: str) -> Allocation:
    """Allocate the account's whole ledger again and store the result (the account row must be locked)."""
    allocation = allocate(await entries(conn, account_id))
    numbers = {
        r["invoice_id"]: r["document"]
        for r in await conn.fetch(
            "SELECT invoice_id, document FROM ledger_entries WHERE account_id = $1 AND kind = 'invoice'", account_id
        )
    }
    await _write_invoices(conn, account_id, currency, allocation, numbers)
    await conn.execute(
        "UPDATE account_collections SET balance_minor = $2, open_minor = $3, credit_minor = $4, updated_at = now()"
        " WHERE account_id = $1",
        account_id,
        allocation.balance_minor,
        allocation.open_minor,
        allocation.credit_minor,
    )
    return allocation


def invoice_rows(
    account_id: str,
    currency: str,
    allocation: Allocation,
    numbers: Mapping[str, str | None] | Mapping[str | None, str | None],
) -> list[tuple[object, ...]]:
    """The account's collection_invoices rows after an allocation, in the table's column order."""
    return [
        (
            i.invoice_id,
            account_id,
            numbers.get(i.invoice_id),
            currency,
            i.total_minor,
            i.credited_minor,
            i.paid_minor,
            i.open_minor,
            i.due_date,
            i.issued_at,
        )
        for i in allocation.invoices
    ]


async def _write_invoices(
    conn: asyncpg.Connection, account_id: str, currency: str, allocation: Allocation, numbers: dict[str, str | None]
) -> None:
    rows: Sequence[tuple[object, ...]] = invoice_rows(account_id, currency, allocation, numbers)
    await conn.executemany(
        "INSERT INTO collection_invoices (invoice_id, account_id, invoice_number, currency, total_minor,"
        " credited_minor, paid_minor, open_minor, due_date, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (invoice_id) DO UPDATE SET credited_minor = EXCLUDED.credited_minor,"
        " paid_minor = EXCLUDED.paid_minor, open_minor = EXCLUDED.open_minor",
        rows,
    )


async def account_of(conn: asyncpg.Connection, account_id: str) -> tuple[str | None, str | None]:
    """(status, currency) of the account from the account projection; (None, None) when unknown."""
    found = await profile(conn, account_id)
    return (found.status, found.currency) if found else (None, None)
