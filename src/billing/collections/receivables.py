"""Open receivables, overdue by age band and days sales outstanding, per currency, as of an event-time instant.

Read at scrape time for the worker's /metrics (src/billing/collections/metrics_prometheus.py). Open invoices are
summed per currency and due date in PostgreSQL and aged by the pure aging() (rules/overdue.py), so the cost
follows the number of distinct due dates, not of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from billing.collections.rules.allocation import InvoiceStanding
from billing.collections.rules.overdue import DSO_WINDOW_DAYS, Aging, aging, days_sales_outstanding


@dataclass(frozen=True)
class Receivables:
    currency: str
    aging: Aging
    invoiced_minor: int  # over the DSO window before as_of

    @property
    def dso_days(self) -> float | None:
        return days_sales_outstanding(self.aging.open_minor, self.invoiced_minor)


async def receivables(conn: asyncpg.Connection | asyncpg.Pool, as_of: datetime, grace_days: int) -> list[Receivables]:
    rows = await conn.fetch(
        "SELECT currency, due_date, sum(open_minor)::bigint AS open FROM collection_invoices WHERE open_minor > 0"
        " GROUP BY 1, 2"
    )
    invoiced = {
        r["currency"].strip(): r["invoiced"]
        for r in await conn.fetch(
            "SELECT currency, sum(amount_minor)::bigint AS invoiced FROM ledger_entries WHERE kind = 'invoice'"
            " AND at > $1 AND at <= $2 GROUP BY 1",
            as_of - timedelta(days=DSO_WINDOW_DAYS),
            as_of,
        )
    }
    by_currency: dict[str, list[InvoiceStanding]] = {}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for r in rows:
        # One standing per due date: aging() only reads the open amount and the due date.
        standing = InvoiceStanding(str(r["due_date"]), r["open"], 0, 0, r["due_date"], epoch)
        by_currency.setdefault(r["currency"].strip(), []).append(standing)
    return [
        Receivables(currency, aging(by_currency.get(currency, []), as_of, grace_days), invoiced.get(currency, 0))
        for currency in sorted(by_currency.keys() | invoiced.keys())
    ]
