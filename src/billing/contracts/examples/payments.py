"""Example payment and collection events (docs/events.md, demo, tests), for the invoice of accounts_and_invoices.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from billing.contracts import envelope as ev
from billing.contracts.money import Money
from billing.contracts.payments import (
    AccountRestored,
    AccountSuspended,
    PaymentChargedBack,
    PaymentFailed,
    PaymentMethod,
    PaymentReceived,
    PaymentRefunded,
)

ACCOUNT = "acc-100042"
INVOICE = "inv-2026-11-100042"  # total 4,104 EUR minor units, due 2026-11-16


def _at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _envelope(n: int, source: str, at: datetime) -> dict[str, object]:
    return {"event_id": f"evt-000{n:02d}", "source": source, "occurred_at": at, "schema_version": 1}


def builders() -> dict[str, Callable[[], ev.Event]]:
    eur = {"currency": "EUR"}
    made: list[Callable[[], ev.Event]] = [
        lambda: ev.PaymentFailedEvent(
            **_envelope(23, "payments/stripe", _at(11, 14, 8)),
            type="payment.failed.v1",
            payload=PaymentFailed(
                account_id=ACCOUNT,
                payment_id="pay-7301",
                amount=Money(amount_minor=4104, **eur),
                method=PaymentMethod.CARD,
                provider_reference="ch_3Pq7301",
                failed_at=_at(11, 14, 8),
                reason="card_declined (insufficient_funds)",
                invoice_id=INVOICE,
            ),
        ),
        lambda: ev.AccountSuspendedEvent(
            **_envelope(24, "collections/dunning", _at(12, 8, 0)),
            type="account.suspended.v1",
            payload=AccountSuspended(
                account_id=ACCOUNT,
                invoice_id=INVOICE,
                overdue=Money(amount_minor=4104, **eur),
                suspended_at=_at(12, 8, 0),
            ),
        ),
        lambda: ev.PaymentReceivedEvent(
            **_envelope(25, "payments/stripe", _at(12, 9, 10)),
            type="payment.received.v1",
            payload=PaymentReceived(
                account_id=ACCOUNT,
                payment_id="pay-7302",
                amount=Money(amount_minor=5000, **eur),
                method=PaymentMethod.CARD,
                provider_reference="ch_3Pq7302",
                received_at=_at(12, 9, 10),
                invoice_id=INVOICE,
            ),
        ),
        lambda: ev.AccountRestoredEvent(
            **_envelope(26, "collections/payments", _at(12, 9, 10)),
            type="account.restored.v1",
            payload=AccountRestored(account_id=ACCOUNT, payment_id="pay-7302", restored_at=_at(12, 9, 10)),
        ),
        lambda: ev.PaymentRefundedEvent(
            **_envelope(27, "payments/stripe", _at(12, 10, 9)),
            type="payment.refunded.v1",
            payload=PaymentRefunded(
                account_id=ACCOUNT,
                refund_id="re-7302-1",
                payment_id="pay-7302",
                amount=Money(amount_minor=896, **eur),
                refunded_at=_at(12, 10, 9),
                reason="overpayment returned at the customer's request",
            ),
        ),
        lambda: ev.PaymentChargedBackEvent(
            **_envelope(28, "payments/stripe", _at(12, 20, 15)),
            type="payment.charged_back.v1",
            payload=PaymentChargedBack(
                account_id=ACCOUNT,
                chargeback_id="dp-7302",
                payment_id="pay-7302",
                amount=Money(amount_minor=4104, **eur),
                charged_back_at=_at(12, 20, 15),
                reason="fraudulent, the cardholder does not recognise the charge",
            ),
        ),
    ]
    return {build().type: build for build in made}
