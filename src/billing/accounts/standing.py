"""Reads an account's standing (src/billing/accounts/rules/standing.py) from PostgreSQL, on the caller's connection.

The one reader of standing: the retention offer route and the discount authority's history both read it here, so
they cannot drift apart again. Inside a deciding transaction it sees what that transaction sees.
"""

from __future__ import annotations

import asyncpg

from billing.accounts.rules.standing import Standing

# No payment data reaches this system: no invoice can be known to be overdue until a collections context exists.
OVERDUE_INVOICES_UNKNOWN = 0


async def account_standing(conn: asyncpg.Connection, account_id: str) -> Standing:
    """The account's standing; an unknown account has no disputes and nothing overdue (callers check existence)."""
    open_disputes = await conn.fetchval(
        "SELECT count(*) FROM disputes WHERE account_id = $1 AND status = 'open'", account_id
    )
    return Standing(account_id, overdue_invoices=OVERDUE_INVOICES_UNKNOWN, open_disputes=open_disputes)
