"""Account lifecycle events -> the `accounts` table (the billing and retention view of a customer)."""

from __future__ import annotations

import asyncpg

from schemas import Event
from streams.processor import Handler, Rejected


async def on_opened(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    inserted = await conn.fetchval(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)"
        " ON CONFLICT (account_id) DO NOTHING RETURNING true",
        p.account_id, p.plan_id, p.billing_anchor_day, p.currency, p.jurisdiction,
        p.contact.model_dump(mode="json"), p.opened_at,
    )
    if not inserted:
        raise Rejected(f"account {p.account_id} is already open")


async def on_plan_changed(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    await _require_active(conn, p.account_id)
    await conn.execute(
        "INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at) VALUES ($1, $2, $3, $4)",
        event.event_id, p.account_id, p.plan_id, p.effective_at,
    )
    # The current plan is the one of the latest effective change, whatever order the changes arrived in.
    await conn.execute(
        "UPDATE accounts SET plan_id = (SELECT plan_id FROM account_plan_changes WHERE account_id = $1"
        " ORDER BY effective_at DESC, event_id DESC LIMIT 1) WHERE account_id = $1",
        p.account_id,
    )


async def on_closed(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    await _require_active(conn, p.account_id)
    await conn.execute(
        "UPDATE accounts SET status = 'closed', closed_at = $2, close_reason = $3 WHERE account_id = $1",
        p.account_id, p.closed_at, str(p.reason),
    )


async def _require_active(conn: asyncpg.Connection, account_id: str) -> None:
    status = await conn.fetchval("SELECT status FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
    if status is None:
        raise Rejected(f"account {account_id} is not known (no account.opened.v1 applied)")
    if status != "active":
        raise Rejected(f"account {account_id} is {status}")


HANDLERS: dict[str, Handler] = {
    "account.opened.v1": on_opened,
    "account.plan_changed.v1": on_plan_changed,
    "account.closed.v1": on_closed,
}
