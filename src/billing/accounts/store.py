"""Reads the account view's facts from the projections (asyncpg). Read-only; the view itself is pure."""

from __future__ import annotations

from typing import Any

import asyncpg

from billing.accounts.rules.view import AccountFacts

LAST_INVOICES = 3


async def account_facts(pool: asyncpg.Pool, account_id: str) -> AccountFacts | None:
    account = await pool.fetchrow(
        "SELECT account_id, plan_id, status, currency, contact, next_cycle_start FROM accounts WHERE account_id = $1",
        account_id,
    )
    if account is None:
        return None
    contact = account["contact"] or {}
    return AccountFacts(
        account_id=account_id,
        name=contact.get("name", ""),
        email=contact.get("email"),
        phone=contact.get("phone"),
        plan_id=account["plan_id"],
        status=account["status"],
        currency=account["currency"].strip(),
        invoices=tuple(await _invoices(pool, account_id)),
        usage=await _open_cycle_usage(pool, account_id, account["next_cycle_start"]),
        disputes=tuple(await _rows(pool, _DISPUTES, account_id)),
        discounts=tuple(await _rows(pool, _DISCOUNTS, account_id)),
    )


async def billing_currency(conn: asyncpg.Connection, account_id: str) -> str | None:
    """The currency the account is billed in, or None for an unknown account."""
    currency = await conn.fetchval("SELECT currency FROM accounts WHERE account_id = $1", account_id)
    return None if currency is None else currency.strip()


async def invoice_line(pool: asyncpg.Pool, account_id: str, invoice_id: str, line_id: str) -> tuple[dict, dict] | None:
    """(invoice, line) of this account, or None: another account's invoice is as unknown as a missing one."""
    invoice = await pool.fetchrow(
        "SELECT invoice_id, currency, lines FROM invoices_issued WHERE invoice_id = $1 AND account_id = $2",
        invoice_id,
        account_id,
    )
    if invoice is None:
        return None
    line = next((line for line in invoice["lines"] if line.get("line_id") == line_id), None)
    return (dict(invoice), line) if line is not None else None


_DISPUTES = (
    "SELECT dispute_id, invoice_id, line_id, amount_minor, currency, reason, status, opened_at, resolved_at,"
    " credit_minor, resolution_note FROM disputes WHERE account_id = $1 ORDER BY opened_at DESC LIMIT 20"
)
_DISCOUNTS = (
    "SELECT grant_id, kind, percent_bp, invoice_count, amount_minor, currency, invoice_id, reason_code,"
    " granted_by, approved_by, granted_at FROM discount_grants WHERE account_id = $1 ORDER BY granted_at DESC LIMIT 20"
)


async def _rows(pool: asyncpg.Pool, query: str, account_id: str) -> list[dict[str, Any]]:
    return [_clean(dict(row)) for row in await pool.fetch(query, account_id)]


async def _invoices(pool: asyncpg.Pool, account_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT invoice_id, invoice_number, period_start, period_end, currency, total_minor, issued_at, due_date,"
        " lines FROM invoices_issued WHERE account_id = $1 ORDER BY issued_at DESC LIMIT $2",
        account_id,
        LAST_INVOICES,
    )
    return [_clean(dict(row)) for row in rows]


async def _open_cycle_usage(pool: asyncpg.Pool, account_id: str, cycle_start: Any) -> dict[str, Any]:
    if cycle_start is None:
        return {"cycle_start": None, "services": {}}
    rows = await pool.fetch(
        "SELECT service, sum(billable_units)::bigint AS billable_units, sum(events)::bigint AS events"
        " FROM cycle_usage WHERE account_id = $1 AND cycle_start = $2 GROUP BY service ORDER BY service",
        account_id,
        cycle_start,
    )
    services = {r["service"]: {"billable_units": r["billable_units"], "events": r["events"]} for r in rows}
    return {"cycle_start": cycle_start, "services": services}


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    # char(3) columns come back padded only if shorter; strip keeps "EUR" as "EUR" either way.
    return {key: value.strip() if key == "currency" and isinstance(value, str) else value for key, value in row.items()}
