"""The one reader of account facts: what an account looks like, read from PostgreSQL.

Plan (the one in force at an instant and the change still to come, from the plan history billing uses), status,
currency, contact, the open cycle's usage, the invoices (issued by this system's closer in
``invoices`` and by upstream producers in ``invoices_issued``, one list, each marked with its ``origin``),
credit notes, disputes and grants. The account view, the dispute route, the retention offer, the discount
authority's invoice base, the credit-note issuer and the queue routing facts all read invoices here, so none
of them can again see only one origin (our own invoices were invisible to disputes: a 404 on their lines).

Every function takes a connection or a pool and reads in the caller's transaction when given one. jsonb is
read as text and parsed here, so these queries work on any pool, with or without the API's jsonb codec.
Good standing has its own reader beside this one (src/billing/accounts/standing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from billing.accounts.rules.plan_periods import PlanHistory, PlanPeriod, PlanStatus
from billing.accounts.rules.view import AccountFacts
from billing.invoicing.rules.catalog import Catalog, CatalogError

ORIGIN_BILLING = "billing"  # issued by this system's closer (the `invoices` table, status issued)
ORIGIN_UPSTREAM = "upstream"  # published by another producer and projected (the `invoices_issued` table)
LAST_INVOICES = 3

# Every issued invoice of every origin, as a derived table: embed it as `FROM (ISSUED_INVOICES) AS i` and
# filter by account; PostgreSQL pushes the filter into both branches (each has its account index). Held
# invoices are not issued: nobody owes them and nobody may dispute them yet.
ISSUED_INVOICES = f"""
SELECT '{ORIGIN_BILLING}' AS origin, invoice_id, account_id, invoice_number, period_start, period_end, currency,
       total_minor, issued_at, due_date, lines
FROM invoices WHERE status = 'issued'
UNION ALL
SELECT '{ORIGIN_UPSTREAM}' AS origin, invoice_id, account_id, invoice_number, period_start, period_end, currency,
       total_minor, issued_at, due_date, lines
FROM invoices_issued
"""

_INVOICE_COLUMNS = (
    "origin, invoice_id, account_id, invoice_number, period_start, period_end, currency, total_minor, issued_at,"
    " due_date, lines::text AS lines"
)

Connection = asyncpg.Connection | asyncpg.Pool | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True)
class IssuedInvoice:
    origin: str
    invoice_id: str
    account_id: str
    invoice_number: str
    period_start: date
    period_end: date
    currency: str
    total_minor: int
    issued_at: datetime
    due_date: date
    lines: tuple[dict[str, Any], ...]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> IssuedInvoice:
        return cls(**{**dict(row), "currency": row["currency"].strip(), "lines": tuple(orjson.loads(row["lines"]))})

    def line(self, line_id: str) -> dict[str, Any] | None:
        return next((line for line in self.lines if line.get("line_id") == line_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "lines": list(self.lines)}


@dataclass(frozen=True)
class Profile:
    """The account's own row: its status, currency and cycles (its plan at an instant is ``plan_status``)."""

    account_id: str
    status: str
    currency: str
    opened_at: datetime
    next_cycle_start: date | None  # the first cycle not invoiced yet; None once the final invoice is out
    billing_anchor_day: int


async def profile(conn: Connection, account_id: str) -> Profile | None:
    """The account's status, currency and opening; None for an unknown account."""
    row = await conn.fetchrow(
        "SELECT account_id, status, currency, opened_at, next_cycle_start, billing_anchor_day FROM accounts"
        " WHERE account_id = $1",
        account_id,
    )
    return None if row is None else Profile(**{**dict(row), "currency": row["currency"].strip()})


async def contact_and_jurisdiction(conn: Connection, account_id: str) -> tuple[dict[str, Any], str] | None:
    """Who the customer is (the contact as opened) and the tax jurisdiction; None for an unknown account."""
    row = await conn.fetchrow(
        "SELECT contact::text AS contact, jurisdiction FROM accounts WHERE account_id = $1", account_id
    )
    return None if row is None else (orjson.loads(row["contact"]), row["jurisdiction"])


async def credit_notes_against(conn: Connection, invoice_id: str) -> list[dict[str, Any]]:
    """The credit notes issued against one invoice, oldest first."""
    rows = await conn.fetch(
        "SELECT credit_note_number, issued_at, amount_minor, reason FROM credit_notes WHERE invoice_id = $1"
        " ORDER BY issued_at, credit_note_number",
        invoice_id,
    )
    return [dict(row) for row in rows]


async def account_facts(
    conn: Connection,
    account_id: str,
    last_invoices: int = LAST_INVOICES,
    *,
    as_of: datetime,
    catalog: Catalog | None = None,
) -> AccountFacts | None:
    """Everything an agent may be shown of the account (the view masks it); None for an unknown account. The plan
    is the one in force at ``as_of`` with the change still to come; with the catalog, its version then too."""
    account = await conn.fetchrow(
        "SELECT account_id, status, currency, contact::text AS contact, next_cycle_start, opened_at"
        " FROM accounts WHERE account_id = $1",
        account_id,
    )
    plans = await plan_status(conn, account_id, as_of)
    if account is None or plans is None:
        return None
    contact = orjson.loads(account["contact"]) if account["contact"] else {}
    return AccountFacts(
        account_id=account_id,
        name=contact.get("name", ""),
        email=contact.get("email"),
        phone=contact.get("phone"),
        plan_id=plans.plan_id,
        plan_version=_version_in_force(catalog, plans.plan_id, as_of),
        plan_pending=plans.pending_json(),
        status=account["status"],
        currency=account["currency"].strip(),
        invoices=tuple(invoice.as_dict() for invoice in await invoices(conn, account_id, last_invoices)),
        usage=await open_cycle_usage(conn, account_id, account["next_cycle_start"]),
        disputes=tuple(await _rows(conn, _DISPUTES, account_id)),
        discounts=tuple(await _rows(conn, _GRANTS, account_id)),
        credit_notes=tuple(await _rows(conn, _CREDIT_NOTES, account_id)),
        opened_at=account["opened_at"],
    )


def _version_in_force(catalog: Catalog | None, plan_id: str, as_of: datetime) -> int | None:
    if catalog is None:
        return None
    try:
        return catalog.plan_in_force(plan_id, as_of).version
    except CatalogError:  # a plan retired from the catalog: the view still shows the account
        return None


# The plan periods in billing's order (the closer's and the rating's: effective time, then event id). The account
# row's plan_id is the plan of its latest change; it answers only for an account without any period stored.
_PLAN_PERIODS = """
SELECT a.plan_id AS account_plan_id, c.event_id, c.plan_id, c.effective_at
FROM accounts a LEFT JOIN account_plan_changes c ON c.account_id = a.account_id
WHERE a.account_id = $1 ORDER BY c.effective_at, c.event_id
"""


async def plan_history(conn: Connection, account_id: str) -> PlanHistory | None:
    """The account's plan periods, as billing rates and closes from them; None for an unknown account. The one
    reader of "which plan at which instant": ``PlanHistory.in_force(at)``, ``.pending(at)``, ``.status(at)``."""
    rows = await conn.fetch(_PLAN_PERIODS, account_id)
    if not rows:
        return None
    periods = tuple(
        PlanPeriod(row["plan_id"], row["effective_at"], row["event_id"]) for row in rows if row["event_id"] is not None
    )
    return PlanHistory(periods, rows[0]["account_plan_id"])


async def plan_status(conn: Connection, account_id: str, at: datetime) -> PlanStatus | None:
    """The plan in force at ``at`` and the change still to come after it; None for an unknown account. Pass the
    event-time clock billing runs on for "now", so that what people see is what billing does."""
    history = await plan_history(conn, account_id)
    return None if history is None else history.status(at)


async def billing_currency(conn: Connection, account_id: str) -> str | None:
    """The currency the account is billed in, or None for an unknown account."""
    found = await profile(conn, account_id)
    return None if found is None else found.currency


async def invoices(conn: Connection, account_id: str, limit: int = LAST_INVOICES) -> list[IssuedInvoice]:
    """The account's latest issued invoices of both origins, newest first."""
    rows = await conn.fetch(
        f"SELECT {_INVOICE_COLUMNS} FROM ({ISSUED_INVOICES}) AS i WHERE account_id = $1"
        " ORDER BY issued_at DESC, invoice_id DESC LIMIT $2",
        account_id,
        limit,
    )
    return [IssuedInvoice.from_row(row) for row in rows]


async def issued_invoice(conn: Connection, invoice_id: str) -> IssuedInvoice | None:
    """One issued invoice of either origin by its id (ours first: an echo of ours is never projected)."""
    row = await conn.fetchrow(
        f"SELECT {_INVOICE_COLUMNS} FROM ({ISSUED_INVOICES}) AS i WHERE invoice_id = $1"
        " ORDER BY origin = $2 DESC LIMIT 1",
        invoice_id,
        ORIGIN_BILLING,
    )
    return None if row is None else IssuedInvoice.from_row(row)


async def invoice_line(
    conn: Connection, account_id: str, invoice_id: str, line_id: str
) -> tuple[IssuedInvoice, dict[str, Any]] | None:
    """(invoice, line) of this account, or None: another account's invoice is as unknown as a missing one."""
    invoice = await issued_invoice(conn, invoice_id)
    if invoice is None or invoice.account_id != account_id:
        return None
    line = invoice.line(line_id)
    return None if line is None else (invoice, line)


async def latest_invoice_total(conn: Connection, account_id: str) -> int | None:
    """The total of the account's latest issued invoice, either origin; None before its first."""
    return await conn.fetchval(
        f"SELECT total_minor FROM ({ISSUED_INVOICES}) AS i WHERE account_id = $1"
        " ORDER BY issued_at DESC, invoice_id DESC LIMIT 1",
        account_id,
    )


async def average_recent_invoice(conn: Connection, account_id: str, currency: str, last: int = LAST_INVOICES) -> int:
    """Mean total of the account's last ``last`` issued invoices in ``currency`` (either origin), rounded half up
    to a minor unit; 0 without any."""
    return await conn.fetchval(
        "SELECT coalesce(round(avg(total_minor)), 0)::bigint FROM ("
        f" SELECT total_minor FROM ({ISSUED_INVOICES}) AS i WHERE account_id = $1 AND currency = $2"
        " ORDER BY period_start DESC LIMIT $3) AS recent",
        account_id,
        currency,
        last,
    )


async def last_grant_by_kind(conn: Connection, account_id: str) -> dict[str, datetime]:
    """When the account was last granted each kind of discount."""
    rows = await conn.fetch(
        "SELECT kind, max(granted_at) AS last FROM discount_grants WHERE account_id = $1 GROUP BY kind", account_id
    )
    return {r["kind"]: r["last"] for r in rows}


async def open_cycle_usage(conn: Connection, account_id: str, cycle_start: date | None) -> dict[str, Any]:
    """The open cycle's billable units and events per service so far."""
    if cycle_start is None:
        return {"cycle_start": None, "services": {}}
    rows = await conn.fetch(
        "SELECT service, sum(billable_units)::bigint AS billable_units, sum(events)::bigint AS events"
        " FROM cycle_usage WHERE account_id = $1 AND cycle_start = $2 GROUP BY service ORDER BY service",
        account_id,
        cycle_start,
    )
    services = {r["service"]: {"billable_units": r["billable_units"], "events": r["events"]} for r in rows}
    return {"cycle_start": cycle_start, "services": services}


_DISPUTES = (
    "SELECT dispute_id, invoice_id, line_id, amount_minor, currency, reason, status, opened_at, resolved_at,"
    " credit_minor, resolution_note FROM disputes WHERE account_id = $1 ORDER BY opened_at DESC LIMIT 20"
)
_GRANTS = (
    "SELECT grant_id, kind, percent_bp, invoice_count, amount_minor, currency, invoice_id, reason_code,"
    " granted_by, approved_by, granted_at FROM discount_grants WHERE account_id = $1 ORDER BY granted_at DESC LIMIT 20"
)
_CREDIT_NOTES = (
    "SELECT credit_note_id, credit_note_number, invoice_id, dispute_id, amount_minor, currency, reason, issued_at"
    " FROM credit_notes WHERE account_id = $1 ORDER BY issued_at DESC LIMIT 20"
)


async def _rows(conn: Connection, query: str, account_id: str) -> list[dict[str, Any]]:
    return [_clean(dict(row)) for row in await conn.fetch(query, account_id)]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    # char(3) columns come back padded only if shorter; strip keeps "EUR" as "EUR" either way.
    return {key: value.strip() if key == "currency" and isinstance(value, str) else value for key, value in row.items()}
