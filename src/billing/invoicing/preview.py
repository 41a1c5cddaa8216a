"""What an account's open cycle would bill if it closed now: the same inputs and pure core as the closer,
read without locks and written nowhere (for `billing account show`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from billing.invoicing import store
from billing.invoicing.rules import inputs
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog
from billing.invoicing.rules.close_model import DueAccount
from billing.invoicing.rules.invoice_model import InvoiceDraft

_ACCOUNT = """
SELECT account_id, currency, jurisdiction, billing_anchor_day, next_cycle_start, next_cycle_end,
       (closed_at AT TIME ZONE 'UTC')::date AS closed_on
FROM accounts WHERE account_id = $1
"""


@dataclass(frozen=True)
class ServiceUsage:
    service: str
    plan_id: str
    plan_version: int
    billable_units: int
    events: int


@dataclass(frozen=True)
class OpenCycle:
    account: DueAccount
    period_end: date
    usage: tuple[ServiceUsage, ...]
    draft: InvoiceDraft  # recurring fee for the whole cycle, usage so far, unbilled late usage, tax


async def open_cycle(conn: asyncpg.Connection, catalog: Catalog, account_id: str, as_of: datetime) -> OpenCycle | None:
    """None when the account is unknown or has nothing left to bill (its final invoice is out)."""
    row = await conn.fetchrow(_ACCOUNT, account_id)
    if row is None or row["next_cycle_start"] is None:
        return None
    account = DueAccount(*row.values())
    period = inputs.billing_period(account)
    if period is None:
        return None
    fetched = await store.fetch_inputs(conn, [account], lock_usage=False)
    invoice = inputs.invoice_input(
        inputs.PlanCalendar(catalog),
        account,
        period,
        fetched.plan_changes.get(account_id, []),
        fetched.usage.get(account_id, []),
        fetched.grants.get(account_id, []),
        as_of,
    )
    draft = inputs.without_stand_in(build_invoice(invoice))
    return OpenCycle(account, period[1], await _usage_by_service(conn, account), draft)


async def _usage_by_service(conn: asyncpg.Connection, account: DueAccount) -> tuple[ServiceUsage, ...]:
    rows = await conn.fetch(
        "SELECT service, plan_id, plan_version, billable_units, events FROM cycle_usage"
        " WHERE account_id = $1 AND cycle_start = $2 ORDER BY service, plan_id, plan_version",
        account.account_id,
        account.cycle_start,
    )
    return tuple(ServiceUsage(*r.values()) for r in rows)
