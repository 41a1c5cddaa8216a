"""A sample customer invoice built by the real calculation with the demo catalog (mobile-s, EUR, Germany):
October on mobile-s v2 for the whole month, November moving to mobile-l on the 17th (16 of 30 days on
mobile-s v2, 14 on mobile-l), voice beyond the allowance and into tier 2, late October SMS, a 10 % discount and
a fixed 5.00 EUR grant of which 2.00 is carried forward. Used by the unit tests and for docs/invoice-sample.png
(``python tests/unit/invoicing/invoice_document_sample.py OUT.html``).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

from billing.invoicing.events import wire_lines
from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import ServiceKind, demo_catalog
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.document import CreditNote, Party, invoice_document
from billing.invoicing.rules.explanation import explain_invoice
from billing.invoicing.rules.invoice_model import (
    Adjustment,
    AdjustmentKind,
    InvoiceDraft,
    InvoiceInput,
    LateUsage,
    PlanSegment,
)
from billing.invoicing.rules.pricing import UsageKey
from billing.invoicing.rules.stored_invoice import OURS, StoredInvoice

CATALOG = demo_catalog()
S2, L1 = CATALOG.plan_version("mobile-s", 2), CATALOG.plan_version("mobile-l", 1)
OCT, NOV = Cycle(date(2026, 10, 1), date(2026, 11, 1)), Cycle(date(2026, 11, 1), date(2026, 12, 1))
SELLER = Party(name="Example Telecom GmbH", address="Musterstrasse 1, 10115 Berlin, Germany", tax_id="DE123456789")
CUSTOMER = Party(name="Erika Mustermann", email="erika@example.com", phone="+4915112345678", account_id="acc-1")


def october() -> InvoiceDraft:
    return build_invoice(
        InvoiceInput(
            account_id="acc-1",
            currency="EUR",
            cycle=OCT,
            plan_segments=(PlanSegment(S2, OCT.start, OCT.end),),
            usage_totals={
                UsageKey("mobile-s", 2, ServiceKind.VOICE): 5_000,
                UsageKey("mobile-s", 2, ServiceKind.SMS): 40,
            },
            tax_rate_bp=1900,
        )
    )


def november() -> InvoiceDraft:
    change = date(2026, 11, 17)
    return build_invoice(
        InvoiceInput(
            account_id="acc-1",
            currency="EUR",
            cycle=NOV,
            plan_segments=(PlanSegment(S2, NOV.start, change), PlanSegment(L1, change, NOV.end)),
            usage_totals={
                UsageKey("mobile-s", 2, ServiceKind.VOICE): 9_833,
                UsageKey("mobile-s", 2, ServiceKind.SMS): 20,
                UsageKey("mobile-l", 1, ServiceKind.DATA): 1_610_612_736,
            },
            tax_rate_bp=1900,
            late_usage=(LateUsage(OCT, S2, ServiceKind.SMS, 70, 40),),
            adjustments=(
                Adjustment(AdjustmentKind.PERCENT, "grant-10pc", percent_bp=1000),
                Adjustment(AdjustmentKind.FIXED, "grant-500", amount_minor=500),
            ),
        )
    )


def stored(draft: InvoiceDraft, number: str) -> StoredInvoice:
    return StoredInvoice(
        invoice_id=f"inv-acc-1-{draft.cycle.start:%Y%m%d}",
        account_id="acc-1",
        origin=OURS,
        status="issued",
        invoice_number=number,
        period_start=draft.cycle.start,
        period_end=draft.cycle.end,
        issued_at=datetime.combine(draft.cycle.end, datetime.min.time(), UTC),
        due_date=date.fromordinal(draft.cycle.end.toordinal() + 14),
        currency="EUR",
        lines=tuple(wire_lines(draft, "DE")),
        total_minor=draft.total_minor,
    )


def sample_document() -> dict:
    oct_draft, nov_draft = october(), november()
    return invoice_document(
        stored(nov_draft, "INV-2026-000042"),
        seller=SELLER,
        customer=CUSTOMER,
        credit_notes=(CreditNote("CN-2026-000007", datetime(2026, 12, 5, tzinfo=UTC), 250, "dispute on SMS charges"),),
        events={("mobile-s", 2, "voice"): 12, ("mobile-s", 2, "sms"): 20, ("mobile-l", 1, "data"): 31},
        explanation=explain_invoice(nov_draft, oct_draft, {ServiceKind.VOICE: [(date(2026, 11, 9), 6_500)]}),
    )


if __name__ == "__main__":
    from billing.invoicing.rendering import render_html

    Path(sys.argv[1]).write_text(render_html(sample_document()), encoding="utf-8")
