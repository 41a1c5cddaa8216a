"""A whole EUR telecom month worked out by hand (amounts in cents).

Cycle: anchor day 1, 2026-11-01 .. 2026-12-01 (30 days). The account moves
from talk-s to talk-l on 2026-11-11: 10 days on talk-s, 20 days on talk-l.

Recurring fees, prorated by days:
    talk-s: 1000 x 10/30 = 333.33  -> 333
    talk-l: 3000 x 20/30 = 2000.00 -> 2000

Allowances, prorated by the same days:
    talk-s voice 3000 s x 10/30 = 1000 s, data 307 200 B x 10/30 = 102 400 B
    talk-l voice 6000 s x 20/30 = 4000 s, sms 100 x 20/30 = 66.67 -> 67

talk-s voice (60/1): 1 s -> 60, 60 s -> 60, 61 s -> 61, 125 s -> 125,
    1500 s -> 1500; total 1806 s. Running sum 60, 120, 181, 306, 1806: the
    1000 s allowance is crossed during the last call.
    chargeable 1806 - 1000 = 806 s
    tier 1 (first 600 s): 600 x 0.25 = 150.00 -> 150
    tier 2 (the rest):    206 x 0.15 =  30.90 ->  31        voice 181
talk-s data (1024/1024): 1 B -> 1024, 1024 -> 1024, 1025 -> 2048,
    150 000 -> 150 528 (147 started kB); total 154 624 B
    chargeable 154 624 - 102 400 = 52 224 B x 0.001 = 52.224 -> 52
talk-s sms: 2 x 9 = 18, below the 50 minimum -> top-up 32       sms 50
talk-l voice: 2400 s + 1900 s = 4300 s; chargeable 300 x 0.10 = 30
talk-l sms: 3 messages, all inside the 67 included            0

Late usage: a 200 s October call on talk-s v1 arrives now. October already
billed 2900 s (inside the full 3000 s allowance, 0 cents). With it: 3100 s,
100 s chargeable in tier 1 = 100 x 0.25 = 25.00; difference 25 - 0 = 25.

Subtotal: 333 + 2000 + 150 + 31 + 52 + 18 + 32 + 30 + 25 = 2671
Tax DE 19 %: 2671 x 1900 / 10000 = 507.49 -> 507
Total: 2671 + 507 = 3178
"""

from datetime import date

from billing_test_factories import build_test_catalog, rated, usage_totals, utc

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import ServiceKind, demo_catalog
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import InvoiceInput, LateUsage, LineKind, PlanSegment

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))
OCTOBER = Cycle(date(2026, 10, 1), date(2026, 11, 1))
VOICE, DATA, SMS = ServiceKind.VOICE, ServiceKind.DATA, ServiceKind.SMS


def _november_usage(catalog):
    small = catalog.plan_version("talk-s", 1)
    large = catalog.plan_version("talk-l", 1)
    return [
        *(
            rated(small, VOICE, seconds, utc(2026, 11, day))
            for day, seconds in [(2, 1), (3, 60), (4, 61), (5, 125), (6, 1500)]
        ),
        rated(small, VOICE, 0, utc(2026, 11, 6)),  # unanswered call: 0 units
        *(rated(small, DATA, size, utc(2026, 11, 7)) for size in [1, 1024, 1025, 150_000]),
        *(rated(small, SMS, 1, utc(2026, 11, 8)) for _ in range(2)),
        rated(large, VOICE, 2400, utc(2026, 11, 12)),
        rated(large, VOICE, 1900, utc(2026, 11, 20)),
        *(rated(large, SMS, 1, utc(2026, 11, 21)) for _ in range(3)),
    ]


def _november_invoice():
    catalog = build_test_catalog()
    small = catalog.plan_version("talk-s", 1)
    large = catalog.plan_version("talk-l", 1)
    return build_invoice(
        InvoiceInput(
            account_id="acc-1",
            currency="EUR",
            cycle=NOVEMBER,
            plan_segments=(
                PlanSegment(small, date(2026, 11, 1), date(2026, 11, 11)),
                PlanSegment(large, date(2026, 11, 11), date(2026, 12, 1)),
            ),
            usage_totals=usage_totals(_november_usage(catalog), NOVEMBER),
            tax_rate_bp=catalog.taxes.rate_bp("DE"),
            late_usage=(LateUsage(OCTOBER, small, VOICE, units=200, previously_billed_units=2900),),
        )
    )


def test_every_line_of_the_month():
    amounts = {line.line_id: line.amount_minor for line in _november_invoice().lines}
    assert amounts == {
        "recurring:talk-s:v1": 333,
        "recurring:talk-l:v1": 2000,
        "usage:talk-s:v1:voice:included": 0,
        "usage:talk-s:v1:voice:tier1": 150,
        "usage:talk-s:v1:voice:tier2": 31,
        "usage:talk-s:v1:data:included": 0,
        "usage:talk-s:v1:data:tier1": 52,
        "usage:talk-s:v1:sms:tier1": 18,
        "usage:talk-s:v1:sms:minimum": 32,
        "usage:talk-l:v1:voice:included": 0,
        "usage:talk-l:v1:voice:tier1": 30,
        "usage:talk-l:v1:sms:included": 0,
        "adjustment:2026-10-01:talk-s:v1:voice": 25,
        "tax": 507,
    }


def test_totals_of_the_month():
    invoice = _november_invoice()
    assert invoice.subtotal_minor == 2671
    assert invoice.discount_minor == 0
    assert invoice.tax_minor == 507
    assert invoice.total_minor == 3178
    assert invoice.carry_forward == {}


def test_units_shown_on_lines():
    lines = {line.line_id: line for line in _november_invoice().lines}
    assert lines["usage:talk-s:v1:voice:included"].units == 1000
    assert lines["usage:talk-s:v1:voice:tier2"].units == 206
    assert lines["usage:talk-s:v1:data:tier1"].units == 52_224
    assert lines["usage:talk-l:v1:sms:included"].units == 3
    assert lines["recurring:talk-s:v1"].units == 10
    late = lines["adjustment:2026-10-01:talk-s:v1:voice"]
    assert (late.kind, late.period, late.units) == (LineKind.LATE_USAGE, OCTOBER, 200)


def test_final_invoice_prorates_fee_to_close_date():
    # Account closes on 2026-11-16 (exclusive end): 15 of 30 days on talk-l.
    # Fee 3000 x 15/30 = 1500. No usage. Tax 1500 x 19 % = 285. Total 1785.
    large = build_test_catalog().plan_version("talk-l", 1)
    invoice = build_invoice(
        InvoiceInput(
            account_id="acc-1",
            currency="EUR",
            cycle=NOVEMBER,
            plan_segments=(PlanSegment(large, date(2026, 11, 1), date(2026, 11, 16)),),
            usage_totals={},
            tax_rate_bp=1900,
            is_final=True,
        )
    )
    assert [(line.line_id, line.amount_minor) for line in invoice.lines] == [
        ("recurring:talk-l:v1", 1500),
        ("tax", 285),
    ]
    assert invoice.total_minor == 1785 and invoice.is_final


def test_version_change_of_demo_plan_mid_cycle():
    # Demo mobile-s: v1 (999) until 2026-07-01, v2 (1099) from then. Cycle anchored on
    # the 15th: 2026-06-15 .. 2026-07-15 = 30 days; 16 days on v1, 14 on v2.
    # v1: 999 x 16/30 = 532.8 -> 533; v2: 1099 x 14/30 = 512.87 -> 513; subtotal 1046.
    # Tax 19 %: 1046 x 0.19 = 198.74 -> 199. Total 1245.
    catalog = demo_catalog()
    v1, v2 = catalog.versions("mobile-s")
    invoice = build_invoice(
        InvoiceInput(
            account_id="acc-2",
            currency="EUR",
            cycle=Cycle(date(2026, 6, 15), date(2026, 7, 15)),
            plan_segments=(
                PlanSegment(v1, date(2026, 6, 15), date(2026, 7, 1)),
                PlanSegment(v2, date(2026, 7, 1), date(2026, 7, 15)),
            ),
            usage_totals={},
            tax_rate_bp=1900,
        )
    )
    amounts = {line.line_id: line.amount_minor for line in invoice.lines}
    assert amounts == {"recurring:mobile-s:v1": 533, "recurring:mobile-s:v2": 513, "tax": 199}
    assert invoice.total_minor == 1245
