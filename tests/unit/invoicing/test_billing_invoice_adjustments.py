"""Discounts and credits on a plain 10.00 EUR month with 19 % tax."""

from datetime import date

import pytest
from billing_test_factories import build_test_catalog

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import (
    Adjustment,
    AdjustmentKind,
    InvoiceError,
    InvoiceInput,
    LateUsage,
    PlanSegment,
)
from billing.invoicing.rules.pricing import UsageKey

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))
PERCENT, FIXED, CREDIT = AdjustmentKind.PERCENT, AdjustmentKind.FIXED, AdjustmentKind.CREDIT


def _talk_s():
    return build_test_catalog().plan_version("talk-s", 1)  # fee 1000


def _invoice(*adjustments, **overrides):
    fields = dict(
        account_id="acc-1",
        currency="EUR",
        cycle=NOVEMBER,
        plan_segments=(PlanSegment(_talk_s(), NOVEMBER.start, NOVEMBER.end),),
        usage_totals={},
        tax_rate_bp=1900,
        adjustments=adjustments,
    )
    fields.update(overrides)
    return build_invoice(InvoiceInput(**fields))


def test_fixed_discount_larger_than_invoice_carries_forward():
    # subtotal 1000; fixed 1500 is capped at 1000 -> discount -1000, taxable 0,
    # tax 0, total 0; 1500 - 1000 = 500 carried forward.
    invoice = _invoice(Adjustment(FIXED, "WELCOME", amount_minor=1500))
    assert (invoice.subtotal_minor, invoice.discount_minor, invoice.tax_minor) == (1000, -1000, 0)
    assert invoice.total_minor == 0
    assert invoice.carry_forward == {"WELCOME": 500}
    assert {line.line_id: line.amount_minor for line in invoice.lines}["discount:WELCOME"] == -1000


def test_percent_discount_reduces_taxable_amount():
    # 10 % of 1000 = 100; taxable 900; tax 900 x 19 % = 171; total 1071.
    invoice = _invoice(Adjustment(PERCENT, "LOYAL10", percent_bp=1000))
    assert (invoice.discount_minor, invoice.tax_minor, invoice.total_minor) == (-100, 171, 1071)
    assert invoice.carry_forward == {}


def test_percent_half_minor_rounds_up():
    # 12.35 % of 1000 = 123.5 -> 124; taxable 876; tax 166.44 -> 166; total 1042.
    invoice = _invoice(Adjustment(PERCENT, "ODD", percent_bp=1235))
    assert (invoice.discount_minor, invoice.tax_minor, invoice.total_minor) == (-124, 166, 1042)


def test_percent_first_then_fixed_capped():
    # 10 % -> 100 (percent applies to the pre-discount 1000); fixed 950 capped at the
    # remaining 900 -> 50 carried; total 0.
    invoice = _invoice(Adjustment(FIXED, "F", amount_minor=950), Adjustment(PERCENT, "P", percent_bp=1000))
    assert invoice.discount_minor == -1000
    assert invoice.total_minor == 0
    assert invoice.carry_forward == {"F": 50}


def test_percents_do_not_compound_and_are_capped():
    # 60 % + 60 % of 1000 = 600 + 600, but only 400 is left for the second one.
    invoice = _invoice(Adjustment(PERCENT, "A", percent_bp=6000), Adjustment(PERCENT, "B", percent_bp=6000))
    amounts = {line.line_id: line.amount_minor for line in invoice.lines}
    assert (amounts["discount:A"], amounts["discount:B"]) == (-600, -400)
    assert invoice.total_minor == 0 and invoice.carry_forward == {}


def test_credit_is_used_after_tax():
    # subtotal 1000, tax 190, due 1190; credit 2000 pays it all, 810 carried.
    invoice = _invoice(Adjustment(CREDIT, "REFUND-7", amount_minor=2000))
    assert (invoice.tax_minor, invoice.credit_minor, invoice.total_minor) == (190, -1190, 0)
    assert invoice.carry_forward == {"REFUND-7": 810}


def test_invalid_grants():
    with pytest.raises(InvoiceError, match="once per invoice"):
        _invoice(Adjustment(FIXED, "X", amount_minor=1), Adjustment(CREDIT, "X", amount_minor=1))
    with pytest.raises(InvoiceError, match=r"0\.\.10000"):
        Adjustment(PERCENT, "P", percent_bp=10001)
    with pytest.raises(InvoiceError, match="only amount_minor"):
        Adjustment(FIXED, "F", percent_bp=100)
    with pytest.raises(InvoiceError, match="unknown adjustment kind"):
        Adjustment("voucher", "V", amount_minor=1)  # type: ignore[arg-type]


def test_invalid_invoice_inputs():
    plan = _talk_s()
    with pytest.raises(InvoiceError, match="ends on"):
        _invoice(plan_segments=(PlanSegment(plan, NOVEMBER.start, date(2026, 11, 20)),))
    with pytest.raises(InvoiceError, match="gap or overlap"):
        _invoice(
            plan_segments=(
                PlanSegment(plan, NOVEMBER.start, date(2026, 11, 10)),
                PlanSegment(plan, date(2026, 11, 11), NOVEMBER.end),
            )
        )
    with pytest.raises(InvoiceError, match="not on this invoice"):
        _invoice(usage_totals={UsageKey("talk-l", 1, ServiceKind.VOICE): 60})
    jp = build_test_catalog().plan_version("jp-test", 1)
    with pytest.raises(InvoiceError, match="not priced in EUR"):
        _invoice(plan_segments=(PlanSegment(jp, NOVEMBER.start, NOVEMBER.end),))
    with pytest.raises(InvoiceError, match="not before this cycle"):
        _invoice(late_usage=(LateUsage(NOVEMBER, plan, ServiceKind.VOICE, 1, 0),))
