"""Example events of the account's life and its bills: opened, usage, invoice issued or held, plan changed, closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from billing.contracts import envelope as ev
from billing.contracts.accounts import (
    AccountClosed,
    AccountOpened,
    AccountPlanChanged,
    ClosureReason,
    Contact,
)
from billing.contracts.examples.common import ACCOUNT, INVOICE, at, envelope
from billing.contracts.invoices import InvoiceHeld, InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit


def _invoice() -> InvoiceIssued:
    lines = (
        InvoiceLine(
            line_id="l1",
            kind=InvoiceLineKind.RECURRING,
            description="Mobile Plus plan, November 2026",
            amount_minor=2999,
            plan_id="mobile-plus",
            plan_version=2,
            days=30,
            period_days=30,
            full_fee_minor=2999,
        ),
        InvoiceLine(
            line_id="l2",
            kind=InvoiceLineKind.USAGE,
            description="Roaming data, 1.5 GB",
            service=ServiceKind.DATA,
            quantity=1_500_000_000,
            amount_minor=750,
            plan_id="mobile-plus",
            plan_version=2,
            unit="byte",
            unit_price_minor="0.0000005",
            tier=1,
            tier_from_units=0,
        ),
        InvoiceLine(
            line_id="l3",
            kind=InvoiceLineKind.DISCOUNT,
            description="Loyalty discount",
            amount_minor=-300,
            grant_id="grant-loyalty-7",
            carried_forward_minor=200,
        ),
        InvoiceLine(
            line_id="l4",
            kind=InvoiceLineKind.TAX,
            description="VAT 19%",
            amount_minor=655,
            tax_rate_bp="1900",
            jurisdiction="DE",
        ),
    )
    return InvoiceIssued(
        account_id=ACCOUNT,
        invoice_id=INVOICE,
        invoice_number="INV-2026-000123",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
        issued_at=at(2, 6),
        due_date=date(2026, 11, 16),
        currency="EUR",
        lines=lines,
        subtotal_minor=3749,
        discount_minor=-300,
        tax_minor=655,
        total_minor=4104,
    )


def builders() -> dict[str, Callable[[], ev.Event]]:
    contact = Contact(name="Erika Mustermann", email="erika@example.com", phone="+4915112345678")
    return {
        "account.opened.v1": lambda: ev.AccountOpenedEvent(
            **envelope(1, "crm/onboarding", 1, 8),
            type="account.opened.v1",
            payload=AccountOpened(
                account_id=ACCOUNT,
                plan_id="mobile-plus-2026",
                billing_anchor_day=1,
                currency="EUR",
                jurisdiction="DE",
                contact=contact,
                opened_at=at(1, 8),
            ),
        ),
        "usage.recorded.v1": lambda: ev.UsageRecordedEvent(
            **envelope(2, "mediation/switch-12", 1, 10),
            type="usage.recorded.v1",
            payload=UsageRecorded(
                account_id=ACCOUNT,
                record_id="cdr-20261101-000017",
                service=ServiceKind.VOICE,
                quantity=184,
                unit=UsageUnit.SECOND,
                started_at=at(1, 9, 57),
                msisdn="4915112345678",
                destination="+4930901820",
            ),
        ),
        "invoice.issued.v1": lambda: ev.InvoiceIssuedEvent(
            **envelope(3, "billing/invoicer", 2, 6),
            type="invoice.issued.v1",
            payload=_invoice(),
        ),
        "invoice.held.v1": lambda: ev.InvoiceHeldEvent(
            **envelope(18, "billing/invoicer", 2, 6),
            type="invoice.held.v1",
            payload=InvoiceHeld(
                account_id="acc-100077",
                invoice_id="inv-acc-100077-20261101",
                period_start=date(2026, 11, 1),
                period_end=date(2026, 12, 1),
                held_at=at(2, 6),
                currency="EUR",
                total_minor=61_250,
                recent_totals_minor=(3_570, 3_570, 4_104),
                reason="total 61250 is over 5 times the median of the last 3 issued invoices; held for review",
            ),
        ),
        "account.plan_changed.v1": lambda: ev.AccountPlanChangedEvent(
            **envelope(11, "crm/plans", 4, 12),
            type="account.plan_changed.v1",
            payload=AccountPlanChanged(account_id=ACCOUNT, plan_id="mobile-max-2026", effective_at=at(5, 0)),
        ),
        "account.closed.v1": lambda: ev.AccountClosedEvent(
            **envelope(12, "crm/offboarding", 30, 17),
            type="account.closed.v1",
            payload=AccountClosed(account_id="acc-100077", closed_at=at(30, 17), reason=ClosureReason.VOLUNTARY),
        ),
    }
