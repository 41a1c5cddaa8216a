"""What collections reports to the rest, on the real PostgreSQL (issue 13 points 4 and 6): a non-payment closure
counted as churn with its cause, and the receivables behind the metrics. Each in a transaction rolled back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import pytest

from billing.collections.receivables import receivables
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, ClosureReason
from billing.retention import store as retention_store
from billing.retention.consumers import on_account_event
from billing.retention.queries import Cohort, churn_causes
from billing.retention.store import CaseFacts
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


async def test_a_closure_for_non_payment_is_churn_counted_under_its_cause(dated_stack) -> None:
    """Three followed cases; one account closed by dunning for non-payment on day 10, one by the customer on day
    40, one never: at 30 days one churned (non_payment), at 60 two (one per cause). On a partition number no broker
    uses, in a transaction rolled back."""
    start, partition, period = datetime(2041, 1, 1, tzinfo=UTC), 9_998, unique("period")
    accounts = [unique("acc-np"), unique("acc-vol"), unique("acc-stay")]
    closures = {
        accounts[0]: (start + timedelta(days=10), ClosureReason.NON_PAYMENT),
        accounts[1]: (start + timedelta(days=40), ClosureReason.VOLUNTARY),
    }
    conn = await asyncpg.connect(dated_stack.settings.require_database_url())
    transaction = conn.transaction()
    await transaction.start()
    try:
        for account in accounts:
            facts = CaseFacts(
                unique("case"), unique("evt"), account, partition, "discount_percent", "treatment", "retention",
                "call", 1, 1000, 0, "EUR", start, period,
            )  # fmt: skip
            await retention_store.record_case(conn, facts)
        for account, (closed_at, reason) in closures.items():
            closed = ev.AccountClosedEvent(
                event_id=unique("closed"),
                source="collections/dunning",
                occurred_at=closed_at,
                schema_version=1,
                type="account.closed.v1",
                payload=AccountClosed(account_id=account, closed_at=closed_at, reason=reason),
            )
            await on_account_event(conn, closed, SimpleNamespace(partition=partition))
        cohort = Cohort(start, start + timedelta(days=1))
        await retention_store.advance_clock(conn, partition, start + timedelta(days=31, hours=2))
        while (await retention_store.resolve_due(conn, partition)).cases:
            pass
        churned = [(c["cause"], c["churned"]) for c in await churn_causes(conn, cohort, period)]
        assert churned == [("non_payment", 1)]
        await retention_store.advance_clock(conn, partition, start + timedelta(days=61, hours=2))
        while (await retention_store.resolve_due(conn, partition)).cases:
            pass
        churned = [(c["cause"], c["churned"]) for c in await churn_causes(conn, cohort, period)]
        assert churned == [("non_payment", 1), ("voluntary", 1)]
    finally:
        await transaction.rollback()
        await conn.close()


async def test_receivables_by_age_band_from_the_tables(dated_stack) -> None:
    """Open invoices in the ISO test currency XTS, in a transaction rolled back: summed per due date in
    PostgreSQL, aged by the pure aging() as of 2027-06-30 (grace 3)."""
    as_of = datetime(2027, 6, 30, 12, tzinfo=UTC)
    conn = await asyncpg.connect(dated_stack.settings.require_database_url())
    transaction = conn.transaction()
    await transaction.start()
    try:
        account = unique("acc-xts")
        rows = [  # (open, due): 7, 57 and 163 days overdue, one not yet due, one paid
            (10_000, date(2027, 6, 20)),
            (6_000, date(2027, 5, 1)),
            (2_500, date(2027, 1, 15)),
            (7_000, date(2027, 7, 15)),
            (0, date(2027, 4, 1)),
        ]
        for n, (open_minor, due) in enumerate(rows):
            invoice_id = unique(f"xts-{n}")
            await conn.execute(
                "INSERT INTO collection_invoices (invoice_id, account_id, currency, total_minor, credited_minor,"
                " paid_minor, open_minor, due_date, issued_at) VALUES ($1, $2, 'XTS', 10000, 0, $3, $4, $5, $6)",
                invoice_id,
                account,
                10_000 - open_minor,
                open_minor,
                due,
                as_of - timedelta(days=200),
            )
            await conn.execute(
                "INSERT INTO ledger_entries (entry_id, account_id, kind, amount_minor, currency, at, invoice_id)"
                " VALUES ($1, $2, 'invoice', 10000, 'XTS', $3, $4)",
                f"invoice:{invoice_id}",
                account,
                as_of - timedelta(days=30 * n),  # 0, 30, 60 days ago in the 90-day window; 90, 120 outside
                invoice_id,
            )
        (xts,) = [r for r in await receivables(conn, as_of, 3) if r.currency == "XTS"]
        assert xts.aging.open_minor == 25_500
        assert xts.aging.overdue_by_band == {"0-30": 10_000, "31-60": 6_000, "61-90": 0, "90+": 2_500}
        assert (xts.invoiced_minor, xts.dso_days) == (30_000, 25_500 / 30_000 * 90)
    finally:
        await transaction.rollback()
        await conn.close()
