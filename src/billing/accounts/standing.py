"""Reads an account's standing (src/billing/accounts/rules/standing.py) from PostgreSQL, on the caller's connection.

The one reader of standing: the retention offer route and the discount authority's history both read it here, so
they cannot drift apart again. Inside a deciding transaction it sees what that transaction sees. The overdue
invoices are collections' fact (src/billing/collections/readers.py: open invoices a dunning pass saw past their
due date plus grace, in event time), read here rather than copied.
"""

from __future__ import annotations

import asyncpg

from billing.accounts.rules.standing import Standing
from billing.collections.readers import overdue_invoice_count


async def account_standing(conn: asyncpg.Connection, account_id: str) -> Standing:
    """The account's standing; an unknown account has no disputes and nothing overdue (callers check existence)."""
    open_disputes = await conn.fetchval(
        "SELECT count(*) FROM disputes WHERE account_id = $1 AND status = 'open'", account_id
    )
    overdue = await overdue_invoice_count(conn, account_id)
    return Standing(account_id, overdue_invoices=overdue, open_disputes=open_disputes)
