from datetime import date
from decimal import Decimal

import pytest
from billing_test_factories import build_test_catalog, merge_usage_totals, rated, usage_key, usage_totals, utc

from billing.invoicing.rules import inputs
from billing.invoicing.rules.catalog import RatingIncrement, ServiceKind, ServiceRate, Tier
from billing.invoicing.rules.close_model import DueAccount, PlanChange, UsageRow
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import LateUsage
from billing.invoicing.rules.pricing import RatingError, TierCharge, UsageKey, billable_units, price_service

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))


@pytest.mark.parametrize(
    ("quantity", "first", "then", "expected"),
    [
        (0, 60, 1, 0),  # a zero-length call bills nothing
        (1, 60, 1, 60),
        (60, 60, 1, 60),
        (61, 60, 1, 61),
        (125, 60, 1, 125),
        (61, 60, 60, 120),  # per started minute
        (120, 60, 60, 120),
        (1, 1024, 1024, 1024),  # data per started kB
        (1025, 1024, 1024, 2048),
        (150_000, 1024, 1024, 150_528),  # 146 kB = 149 504 B < 150 000, so 147 kB
        (3, 1, 1, 3),
    ],
)
def test_billable_units(quantity, first, then, expected):
    assert billable_units(quantity, RatingIncrement(first, then)) == expected


def test_negative_quantity_is_refused():
    with pytest.raises(RatingError):
        billable_units(-1, RatingIncrement(1, 1))


def test_rating_stamps_plan_version_and_cycle():
    plan = build_test_catalog().plan_version("talk-s", 1)
    usage = rated(plan, ServiceKind.VOICE, 61, utc(2026, 11, 5))
    assert (usage.billable_units, usage.plan_id, usage.plan_version) == (61, "talk-s", 1)
    assert usage.cycle_start == date(2026, 11, 1)
    assert usage_key(usage) == UsageKey("talk-s", 1, ServiceKind.VOICE)


def test_an_event_belongs_to_the_cycle_it_started_in():
    # The rating derives the cycle from the start time, so no event can be booked outside its cycle: the first
    # moment of December is December's, the last of November November's.
    plan = build_test_catalog().plan_version("talk-s", 1)
    assert rated(plan, ServiceKind.SMS, 1, utc(2026, 12, 1, 0)).cycle_start == date(2026, 12, 1)
    assert rated(plan, ServiceKind.SMS, 1, utc(2026, 11, 30, 23)).cycle_start == NOVEMBER.start


def test_totals_per_cycle_keep_late_events_apart():
    catalog = build_test_catalog()
    plan = catalog.plan_version("talk-s", 1)
    events = [
        rated(plan, ServiceKind.VOICE, 61, utc(2026, 11, 5)),
        rated(plan, ServiceKind.VOICE, 1, utc(2026, 11, 6)),
        rated(plan, ServiceKind.VOICE, 200, utc(2026, 10, 31)),
    ]
    key = UsageKey("talk-s", 1, ServiceKind.VOICE)
    assert usage_totals(events, NOVEMBER) == {key: 61 + 60}
    # The closer's own split (inputs.split_usage) of the cycle_usage rows: October's units are late usage.
    rows = [
        UsageRow(None, "acc-1", start, "talk-s", 1, "voice", units, 0)
        for start, units in [(date(2026, 10, 1), 200), (NOVEMBER.start, 61 + 60)]
    ]
    account = DueAccount("acc-1", "EUR", "DE", 1, NOVEMBER.start, NOVEMBER.end, None)
    changes = [PlanChange("talk-s", plan.effective_from)]
    period = inputs.billing_period(account)
    totals, late = inputs.split_usage(inputs.PlanCalendar(catalog), account, changes, rows, period)
    assert totals == {key: 61 + 60}
    assert late == [LateUsage(Cycle(date(2026, 10, 1), NOVEMBER.start), plan, ServiceKind.VOICE, 200, 0, 31)]
    assert merge_usage_totals({key: 1}, {key: 2}, {}) == {key: 3}


VOICE = ServiceRate(
    unit="second",
    included_units=1000,
    tiers=(Tier(600, Decimal("0.25")), Tier(None, Decimal("0.15"))),
    increment=RatingIncrement(60, 1),
    minimum_charge_minor=0,
)


def test_price_service_allowance_then_graduated_tiers():
    # 1806 s: 1000 included, 806 chargeable.
    # tier 1: 600 s x 0.25 = 150.00 -> 150; tier 2: 206 s x 0.15 = 30.90 -> 31.
    charge = price_service(VOICE, 1806)
    assert charge.included_units_used == 1000
    assert charge.tier_charges == (
        TierCharge(1, 600, Decimal("0.25"), 150),
        TierCharge(2, 206, Decimal("0.15"), 31),
    )
    assert charge.total_minor == 181


def test_price_service_inside_allowance_and_exactly_on_boundary():
    assert price_service(VOICE, 999).total_minor == 0
    # 1600 s: 600 chargeable, exactly filling tier 1: 600 x 0.25 = 150; tier 2 gets nothing.
    charge = price_service(VOICE, 1600)
    assert [tier.tier_number for tier in charge.tier_charges] == [1]
    assert charge.total_minor == 150


SMS_WITH_MINIMUM = ServiceRate("message", 10, (Tier(None, Decimal("9")),), RatingIncrement(1, 1), 50)


def test_minimum_charge_applies_only_to_chargeable_usage():
    # Within the allowance: no minimum, the recurring fee already covers it.
    assert price_service(SMS_WITH_MINIMUM, 10).total_minor == 0
    assert price_service(SMS_WITH_MINIMUM, 0).total_minor == 0
    # 2 chargeable: 2 x 9 = 18, lifted to 50 by a top-up of 32.
    charge = price_service(SMS_WITH_MINIMUM, 12)
    assert (charge.tiers_minor, charge.minimum_top_up_minor, charge.total_minor) == (18, 32, 50)
    # 6 chargeable: 6 x 9 = 54 is above the minimum, no top-up.
    assert price_service(SMS_WITH_MINIMUM, 16).minimum_top_up_minor == 0
