"""Bill explanations worked out by hand: every amount below is computed in the comments first.

The plans are small on purpose (prices in cents per unit, increment 1/1) so the arithmetic stays readable:
  basic v1  fee 10.00; voice: 100 units included, then up to 200 units at 2 c, beyond at 1 c; sms: 5 c, none included
  basic v2  (from 2027-01-01) fee 12.00; voice tier 1 at 3 c, otherwise as v1
  max v1    fee 30.00; voice: 1000 units included, then 1 c; sms: 4 c
Tax rounds once per invoice, half up (billing/money.py).
"""

from __future__ import annotations

from datetime import date

from billing_test_factories import open_tier, plan_dict, service

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.explanation import CauseKind, exhausted_on, explain_invoice
from billing.invoicing.rules.invoice_model import Adjustment, AdjustmentKind, InvoiceInput, PlanSegment
from billing.invoicing.rules.pricing import UsageKey

VOICE, SMS = ServiceKind.VOICE, ServiceKind.SMS


def _basic_services(tier1_price: str) -> dict[str, object]:
    return {
        "voice": service(100, (1, 1), [{"up_to_units": 200, "unit_price": tier1_price}, open_tier("1")]),
        "sms": service(0, (1, 1), [open_tier("5")]),
    }


CATALOG = Catalog.from_dict(
    {
        "plans": [
            plan_dict("basic", "EUR", 1000, _basic_services("2")),
            plan_dict("basic", "EUR", 1200, _basic_services("3"), version=2, effective_from="2027-01-01T00:00:00Z"),
            plan_dict(
                "max",
                "EUR",
                3000,
                {"voice": service(1000, (1, 1), [open_tier("1")]), "sms": service(0, (1, 1), [open_tier("4")])},
            ),
        ]
    }
)
BASIC, BASIC_V2, MAX = (
    CATALOG.plan_version("basic", 1),
    CATALOG.plan_version("basic", 2),
    CATALOG.plan_version("max", 1),
)
OCT, NOV = Cycle(date(2026, 10, 1), date(2026, 11, 1)), Cycle(date(2026, 11, 1), date(2026, 12, 1))
DEC, JAN = Cycle(date(2026, 12, 1), date(2027, 1, 1)), Cycle(date(2027, 1, 1), date(2027, 2, 1))


def _bill(cycle, segments, usage, tax_bp=1900, adjustments=()):
    totals = {}
    for (label, kind), units in usage.items():
        plan_id, version = label.split(":v")
        totals[UsageKey(plan_id, int(version), kind)] = units
    return build_invoice(InvoiceInput("acc-x", "EUR", cycle, segments, totals, tax_bp, adjustments=adjustments))


def _whole(plan, cycle):
    return (PlanSegment(plan, cycle.start, cycle.end),)


# October, basic v1: voice 250 units, sms 4.
#   fee 1000; voice 100 included, 150 in tier 1 at 2 c = 300; sms 4 x 5 = 20; subtotal 1320
#   tax 19 % of 1320 = 250.8 -> 251; total 1571
OCTOBER = _bill(OCT, _whole(BASIC, OCT), {(BASIC.label, VOICE): 250, (BASIC.label, SMS): 4})
# November, basic v1: voice 350 units, sms 5.
#   fee 1000; voice 100 included, 200 in tier 1 at 2 c = 400, 50 in tier 2 at 1 c = 50; sms 5 x 5 = 25
#   subtotal 1475; tax 19 % = 280.25 -> 280; total 1755
NOVEMBER = _bill(NOV, _whole(BASIC, NOV), {(BASIC.label, VOICE): 350, (BASIC.label, SMS): 5})


def _amounts(explanation):
    return [(cause.kind, cause.service, cause.amount_minor) for cause in explanation.causes]


def test_first_invoice_is_explained_by_its_parts_and_names_the_day_the_allowance_ran_out():
    assert OCTOBER.total_minor == 1571
    # Voice: 60 units on the 3rd, 50 on the 9th: 110 > 100 included, so the allowance ran out on the 9th.
    daily = {VOICE: [(date(2026, 10, 9), 50), (date(2026, 10, 3), 60), (date(2026, 10, 20), 140)]}
    explanation = explain_invoice(OCTOBER, None, daily)
    assert explanation.is_first and explanation.change_minor == 1571
    # Largest first: fee 1000, voice beyond the allowance 300, tax 251, sms 20 (no allowance: plain usage).
    assert _amounts(explanation) == [
        (CauseKind.RECURRING_FEE, None, 1000),
        (CauseKind.ALLOWANCE_EXHAUSTED, VOICE, 300),
        (CauseKind.TAX, None, 251),
        (CauseKind.USAGE, SMS, 20),
    ]
    assert explanation.causes[1].day == date(2026, 10, 9)
    assert explanation.allowance_exhausted_on == {VOICE: date(2026, 10, 9)}


def test_more_usage_and_a_tier_crossed_with_the_tax_rounding_residue_as_its_own_cause():
    explanation = explain_invoice(NOVEMBER, OCTOBER)
    # Change 1755 - 1571 = 184. Pre-tax: voice tier 1 150 -> 200 units at 2 c = +100 (usage),
    # voice tier 2 reached: 50 at 1 c = +50, sms 4 -> 5 = +5.
    # Tax shares at 19 %: 100 -> 19, 50 -> 9.5 -> 10, 5 -> 0.95 -> 1; sum 30, but the tax rose 280 - 251 = 29:
    # the residue -1 is its own cause.
    assert explanation.change_minor == 184
    assert _amounts(explanation) == [
        (CauseKind.USAGE, VOICE, 119),
        (CauseKind.TIER_CROSSED, VOICE, 60),
        (CauseKind.USAGE, SMS, 6),
        (CauseKind.TAX_ROUNDING, None, -1),
    ]
    tier = explanation.causes[1]
    assert (tier.tier, tier.units_change, tier.net_minor, tier.tax_minor) == (2, 50, 50, 10)


def test_plan_change_mid_cycle_proration_discount_and_tax_rate_change():
    # December (31 days): basic v1 for 15 days, max from the 16th (16 days); voice 350 units, all on basic;
    # a 10 % discount starts; the tax rate is now 20 %.
    #   basic fee 1000 x 15/31 = 483.87 -> 484; its allowance 100 x 15/31 = 48.39 -> 48
    #   voice 350 - 48 = 302 chargeable: 200 at 2 c = 400, 102 at 1 c = 102
    #   max fee 3000 x 16/31 = 1548.39 -> 1548
    #   subtotal 484 + 1548 + 400 + 102 = 2534; discount 10 % = 253.4 -> 253; taxable 2281
    #   tax 20 % = 456.2 -> 456; total 2281 + 456 = 2737; change against November 2737 - 1755 = 982
    segments = (PlanSegment(BASIC, DEC.start, date(2026, 12, 16)), PlanSegment(MAX, date(2026, 12, 16), DEC.end))
    grant = Adjustment(AdjustmentKind.PERCENT, "goodwill-10", percent_bp=1000)
    december = _bill(DEC, segments, {(BASIC.label, VOICE): 350}, tax_bp=2000, adjustments=(grant,))
    assert december.total_minor == 2737
    explanation = explain_invoice(december, NOVEMBER)
    # Pre-tax causes, each with its tax share at 20 %:
    #   plan change: fee of max 3000 instead of basic 1000 = +2000, tax 400 -> 2400
    #   proration: (484 + 1548 - 3000) - 0 = -968, tax -193.6 -> -194 -> -1162
    #   discount started: -253, tax -50.6 -> -51 -> -304
    #   voice: tier 1 still 200 units (0), tier 2 50 -> 102 units = +52, tax 10.4 -> 10 -> 62
    #     (the prorated allowance of 48 instead of 100 shows as usage beyond it)
    #   sms: 25 -> 0 = -25, tax -5 -> -30
    # Tax rate: November's taxable 1475 at 20 % = 295, less its tax 280 = +15.
    # Tax rose 456 - 280 = 176; shares 400 - 194 - 51 + 10 - 5 = 160; 176 - 15 - 160 = 1 of rounding.
    assert _amounts(explanation) == [
        (CauseKind.PLAN_CHANGE, None, 2400),
        (CauseKind.PRORATION, None, -1162),
        (CauseKind.DISCOUNT_STARTED, None, -304),
        (CauseKind.USAGE, VOICE, 62),
        (CauseKind.USAGE, SMS, -30),
        (CauseKind.TAX_RATE_CHANGE, None, 15),
        (CauseKind.TAX_ROUNDING, None, 1),
    ]
    plan_change = explanation.causes[0]
    assert (plan_change.plan, plan_change.previous_plan) == ("max:v1", "basic:v1")
    assert explanation.causes[2].grant_id == "goodwill-10"
    assert sum(cause.amount_minor for cause in explanation.causes) == 982


def test_a_new_price_version_splits_into_its_fee_and_its_usage_prices():
    # December on v1 with October's usage costs what October did: 1571.
    # January on v2, same usage: fee 1200; voice 150 in tier 1 at 3 c = 450; sms 20; subtotal 1670;
    # tax 19 % = 317.3 -> 317; total 1987; change 1987 - 1571 = 416.
    december = _bill(DEC, _whole(BASIC, DEC), {(BASIC.label, VOICE): 250, (BASIC.label, SMS): 4})
    january = _bill(JAN, _whole(BASIC_V2, JAN), {(BASIC_V2.label, VOICE): 250, (BASIC_V2.label, SMS): 4})
    assert (december.total_minor, january.total_minor) == (1571, 1987)
    # Fee 1200 - 1000 = +200, tax 38 -> 238. Voice tier 1: 150 units at the old 2 c = 300, at 3 c = 450:
    # the price's part 150, tax 28.5 -> 29 -> 179, and the volume's part 300 - 300 = 0 (no cause).
    # Tax rose 317 - 251 = 66; shares 38 + 29 = 67: rounding -1.
    assert _amounts(explain_invoice(january, december)) == [
        (CauseKind.PRICE_CHANGE, None, 238),
        (CauseKind.PRICE_CHANGE, VOICE, 179),
        (CauseKind.TAX_ROUNDING, None, -1),
    ]


def test_a_discount_that_ends_and_a_credit_used_after_tax():
    # November with a fixed discount of 5.00 and a credit of 3.00:
    #   subtotal 1475; discount -500; taxable 975; tax 19 % = 185.25 -> 185; credit -300; total 860
    # December without either, same usage and plan: subtotal 1475, tax 280, total 1755; change 895.
    discounted = _bill(
        NOV,
        _whole(BASIC, NOV),
        {(BASIC.label, VOICE): 350, (BASIC.label, SMS): 5},
        adjustments=(
            Adjustment(AdjustmentKind.FIXED, "fixed-5", amount_minor=500),
            Adjustment(AdjustmentKind.CREDIT, "credit-3", amount_minor=300),
        ),
    )
    plain = _bill(DEC, _whole(BASIC, DEC), {(BASIC.label, VOICE): 350, (BASIC.label, SMS): 5})
    assert (discounted.total_minor, plain.total_minor) == (860, 1755)
    # Discount ended: +500, tax 95 -> 595. Credit no longer used: +300, no tax. Tax rose 280 - 185 = 95: no residue.
    assert _amounts(explain_invoice(plain, discounted)) == [
        (CauseKind.DISCOUNT_ENDED, None, 595),
        (CauseKind.CREDIT, None, 300),
    ]


def test_the_same_bill_twice_has_no_causes():
    assert explain_invoice(NOVEMBER, NOVEMBER).causes == ()


def test_exhausted_on_counts_cumulative_units_by_day():
    days = [(date(2026, 10, 2), 100), (date(2026, 10, 1), 100)]
    assert exhausted_on(days, 200) is None  # exactly the allowance is still within it
    assert exhausted_on(days, 150) == date(2026, 10, 2)
    assert exhausted_on(days, 0) == date(2026, 10, 1)
