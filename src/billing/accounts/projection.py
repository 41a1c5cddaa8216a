"""Account lifecycle events -> the `accounts` table (the billing and retention view of a customer) and its plan
history (`account_plan_changes`: the periods rating and the closer bill from, src/billing/accounts/rules/
plan_periods.py)."""

from __future__ import annotations

from functools import partial

import asyncpg

from billing.accounts.facts import plan_history
from billing.contracts import Event
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.cycles import cycle_for
from billing.platform.records import Handler, Rejected


async def on_opened(catalog: Catalog, conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    # An account no plan of the catalog can price would only fail at its first cycle close, weeks later;
    # refused here it is a dead letter with the reason, the moment it is opened.
    unbillable = catalog.unbillable_reason(p.plan_id, p.currency, p.jurisdiction)
    if unbillable:
        raise Rejected(f"account {p.account_id} cannot be billed: {unbillable}")
    first_cycle = cycle_for(p.billing_anchor_day, p.opened_at)
    inserted = await conn.fetchval(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at, next_cycle_start, next_cycle_end) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9)"
        " ON CONFLICT (account_id) DO NOTHING RETURNING true",
        p.account_id,
        p.plan_id,
        p.billing_anchor_day,
        p.currency,
        p.jurisdiction,
        p.contact.model_dump(mode="json"),
        p.opened_at,
        first_cycle.start,
        first_cycle.end,
    )
    if not inserted:
        raise Rejected(f"account {p.account_id} is already open")
    # The opening is the first plan period: the plan in force at time t is the latest change at or before t.
    await conn.execute(
        "INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at) VALUES ($1, $2, $3, $4)",
        event.event_id,
        p.account_id,
        p.plan_id,
        p.opened_at,
    )


async def on_plan_changed(catalog: Catalog, conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    currency = await _require_active(conn, p.account_id)
    unbillable = catalog.unbillable_reason(p.plan_id, currency)
    if unbillable:
        raise Rejected(f"account {p.account_id} cannot change to plan {p.plan_id!r}: {unbillable}")
    # The latest instruction wins from the moment it takes effect: the periods starting then or later are replaced
    # (a second "next cycle" change replaces the first; a "now" change cancels a pending one). Their events stay on
    # the topic, and an agent's change in the audit log.
    history = await plan_history(conn, p.account_id)
    replaced = history.replaced_by(p.effective_at) if history is not None else ()
    if replaced:
        await conn.execute(
            "DELETE FROM account_plan_changes WHERE event_id = ANY($1::text[])",
            [period.event_id for period in replaced],
        )
    await conn.execute(
        "INSERT INTO account_plan_changes (event_id, account_id, plan_id, effective_at) VALUES ($1, $2, $3, $4)",
        event.event_id,
        p.account_id,
        p.plan_id,
        p.effective_at,
    )
    # The account row keeps the plan of its latest period: what it ends up on. What is in force at an instant, and
    # what is still to come, is the plan history's (src/billing/accounts/facts.py plan_status), never this column.
    await conn.execute(
        "UPDATE accounts SET plan_id = (SELECT plan_id FROM account_plan_changes WHERE account_id = $1"
        " ORDER BY effective_at DESC, event_id DESC LIMIT 1) WHERE account_id = $1",
        p.account_id,
    )


async def on_closed(conn: asyncpg.Connection, event: Event) -> None:
    p = event.payload
    await _require_active(conn, p.account_id)
    # The final cycle ends after the closing day (ends are exclusive), so the closer issues the final invoice
    # as soon as that day's grace period has passed instead of waiting for the regular cycle end.
    await conn.execute(
        "UPDATE accounts SET status = 'closed', closed_at = $2, close_reason = $3,"
        " next_cycle_end = LEAST(next_cycle_end, ($2 AT TIME ZONE 'UTC')::date + 1) WHERE account_id = $1",
        p.account_id,
        p.closed_at,
        str(p.reason),
    )


async def _require_active(conn: asyncpg.Connection, account_id: str) -> str:
    """The account's currency, once it is known to be active (locked for the change)."""
    row = await conn.fetchrow("SELECT status, currency FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
    if row is None:
        raise Rejected(f"account {account_id} is not known (no account.opened.v1 applied)")
    if row["status"] != "active":
        raise Rejected(f"account {account_id} is {row['status']}")
    return row["currency"].strip()


def handlers(catalog: Catalog) -> dict[str, Handler]:
    """The account projection's handlers, judging openings and plan changes against the worker's catalog."""
    return {
        "account.opened.v1": partial(on_opened, catalog),
        "account.plan_changed.v1": partial(on_plan_changed, catalog),
        "account.closed.v1": on_closed,
    }
