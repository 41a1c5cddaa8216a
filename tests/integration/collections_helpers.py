"""Events and waits shared by the collections scenarios (tests/integration/test_collections*.py).

Upstream invoices of 10,000 EUR minor units (due the 15th, grace 3 days: day 1 overdue is the 19th) and payments
are published on their topics; the workers project them into the ledger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.contracts import envelope as ev
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.contracts.payments import PaymentChargedBack, PaymentMethod, PaymentReceived, PaymentRefunded
from billing.entrypoints.stack.loadgen import Population, publish, record_of
from tests.integration.helpers import eventually, fetch, fetchval, unique

OPENED = datetime(2027, 2, 1, tzinfo=UTC)


def _meta(prefix: str, at: datetime) -> dict[str, object]:
    return {"event_id": unique(prefix), "source": "test/collections", "occurred_at": at, "schema_version": 1}


def invoice(account: str, invoice_id: str, month: int, total: int = 10_000) -> ev.InvoiceIssuedEvent:
    issued = datetime(2027, month, 1, 6, tzinfo=UTC)
    line = InvoiceLine(line_id="l1", kind=InvoiceLineKind.RECURRING, description="Plan", amount_minor=total)
    return ev.InvoiceIssuedEvent(
        **_meta("inv", issued),
        type="invoice.issued.v1",
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=invoice_id,
            invoice_number=f"UP-{invoice_id}"[:32],
            period_start=date(2027, month - 1, 1),
            period_end=date(2027, month, 1),
            issued_at=issued,
            due_date=date(2027, month, 15),
            currency="EUR",
            lines=(line,),
            subtotal_minor=total,
            discount_minor=0,
            tax_minor=0,
            total_minor=total,
        ),
    )


def paid(account: str, payment_id: str, amount: int, at: datetime, invoice_id=None, currency="EUR"):
    return ev.PaymentReceivedEvent(
        **_meta("pay", at),
        type="payment.received.v1",
        payload=PaymentReceived(
            account_id=account,
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency=currency),
            method=PaymentMethod.BANK_TRANSFER,
            provider_reference=f"ref-{payment_id}",
            received_at=at,
            invoice_id=invoice_id,
        ),
    )


def refunded(account: str, payment_id: str, amount: int, at: datetime) -> ev.PaymentRefundedEvent:
    return ev.PaymentRefundedEvent(
        **_meta("refund", at),
        type="payment.refunded.v1",
        payload=PaymentRefunded(
            account_id=account,
            refund_id=unique("re"),
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency="EUR"),
            refunded_at=at,
        ),
    )


def charged_back(account: str, payment_id: str, amount: int, at: datetime) -> ev.PaymentChargedBackEvent:
    return ev.PaymentChargedBackEvent(
        **_meta("cb", at),
        type="payment.charged_back.v1",
        payload=PaymentChargedBack(
            account_id=account,
            chargeback_id=unique("cb"),
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency="EUR"),
            charged_back_at=at,
        ),
    )


def on(month: int, day: int) -> datetime:
    return datetime(2027, month, day, 12, tzinfo=UTC)


async def _open(settings) -> str:
    population = Population.of(1, start=OPENED, prefix=unique("coll"))
    account = population.account_ids[0]
    await publish(settings.require_bootstrap(), [record_of(e) for e in population.openings()])
    await eventually(lambda: fetchval(settings.require_database_url(), _ACCOUNT, account), lambda n: n == 1)
    return account


_ACCOUNT = "SELECT count(*) FROM accounts WHERE account_id = $1"


async def _send(settings, account: str, events, entries: int) -> None:
    """Publish and wait until the account's ledger holds `entries` entries."""
    await publish(settings.require_bootstrap(), [record_of(e) for e in events])
    await eventually(
        lambda: fetchval(
            settings.require_database_url(), "SELECT count(*) FROM ledger_entries WHERE account_id = $1", account
        ),
        lambda n: n == entries,
    )


async def _standing(settings, account: str) -> tuple[int, int, list[tuple[str, int, int]]]:
    dsn = settings.require_database_url()
    row = (
        await fetch(dsn, "SELECT balance_minor, credit_minor FROM account_collections WHERE account_id = $1", account)
    )[0]
    invoices = await fetch(
        dsn,
        "SELECT invoice_id, paid_minor, open_minor FROM collection_invoices WHERE account_id = $1 ORDER BY due_date",
        account,
    )
    return row["balance_minor"], row["credit_minor"], [tuple(r) for r in invoices]
