"""JPY has no minor unit below the yen, so every amount is whole yen and the
half-up rule decides the .5 cases."""

from datetime import date

from billing_test_factories import build_test_catalog, rated, usage_totals, utc

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import ServiceKind, demo_catalog
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import InvoiceInput, PlanSegment

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))


def _invoice_for(plan, events, tax_rate_bp):
    return build_invoice(
        InvoiceInput(
            account_id="acc-jp",
            currency="JPY",
            cycle=NOVEMBER,
            plan_segments=(PlanSegment(plan, NOVEMBER.start, NOVEMBER.end),),
            usage_totals=usage_totals(events, NOVEMBER),
            tax_rate_bp=tax_rate_bp,
        )
    )


def test_jpy_month_with_half_yen_ties():
    # jp-test: fee 2980 yen, voice 0.5 yen/s (60/1), sms 2.8 yen, nothing included.
    # voice: one 61 s call -> 61 s x 0.5 = 30.5 -> 31 (tie rounds up)
    # sms:   5 x 2.8 = 14.0 -> 14
    # subtotal 2980 + 31 + 14 = 3025; tax JP 10 %: 302.5 -> 303 (tie rounds up)
    # total 3025 + 303 = 3328
    catalog = build_test_catalog()
    plan = catalog.plan_version("jp-test", 1)
    events = [
        rated(plan, ServiceKind.VOICE, 61, utc(2026, 11, 3)),
        *(rated(plan, ServiceKind.SMS, 1, utc(2026, 11, 4)) for _ in range(5)),
    ]
    invoice = _invoice_for(plan, events, catalog.taxes.rate_bp("JP"))
    amounts = {line.line_id: line.amount_minor for line in invoice.lines}
    assert amounts == {
        "recurring:jp-test:v1": 2980,
        "usage:jp-test:v1:voice:tier1": 31,
        "usage:jp-test:v1:sms:tier1": 14,
        "tax": 303,
    }
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (3025, 303, 3328)


def test_demo_jpy_plan_per_started_half_minute():
    # mobile-jp: voice 30/30 at 0.5 yen/s, sms 3.3 yen, 3 GiB data included, fee 2980.
    # voice: 31 s -> 60 s (two started half-minutes) x 0.5 = 30
    # sms:   5 x 3.3 = 16.5 -> 17 (tie rounds up)
    # data:  1 MB inside the allowance -> 0
    # subtotal 2980 + 30 + 17 = 3027; tax 10 %: 302.7 -> 303; total 3330
    plan = demo_catalog().plan_in_force("mobile-jp", utc(2026, 11, 1))
    events = [
        rated(plan, ServiceKind.VOICE, 31, utc(2026, 11, 3)),
        rated(plan, ServiceKind.SMS, 5, utc(2026, 11, 4)),
        rated(plan, ServiceKind.DATA, 1_000_000, utc(2026, 11, 5)),
    ]
    invoice = _invoice_for(plan, events, 1000)
    amounts = {line.line_id: line.amount_minor for line in invoice.lines}
    assert amounts["usage:mobile-jp:v1:voice:tier1"] == 30
    assert amounts["usage:mobile-jp:v1:sms:tier1"] == 17
    assert amounts["usage:mobile-jp:v1:data:included"] == 0
    assert invoice.total_minor == 3330
