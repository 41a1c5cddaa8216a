"""Plan advisor: its figure for the plan a cycle was billed on is what was billed, to the minor unit (property),
another plan's figure is what the closer would have billed on it, and hand-computed examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from billing_test_factories import open_tier, plan_dict, service
from hypothesis import given, settings
from hypothesis import strategies as st
from test_explanation_properties import AUG, NOV, OCT, SEP, catalogs, invoice_inputs, tax_rates

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, ServiceKind
from billing.invoicing.rules.inputs import _not_yet_open
from billing.invoicing.rules.invoice_model import InvoiceInput, PlanSegment
from billing.invoicing.rules.plan_advisor import BilledCycle, CycleSoFar, advise_plans
from billing.invoicing.rules.pricing import UsageKey, billable_units

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


@st.composite
def single_plan_cycles(draw, catalog, cycle, late_cycle):
    """A cycle billed on one plan id, as the closer builds it; sometimes opened mid-cycle (the stand-in)."""
    invoice = draw(invoice_inputs(catalog, cycle, late_cycle))
    plan = invoice.plan_segments[0].plan
    segments = (PlanSegment(plan, cycle.start, cycle.end),)
    opened = draw(st.none() | st.integers(1, cycle.days - 1))
    if opened is not None:
        middle = cycle.start + timedelta(days=opened)
        segments = (PlanSegment(_not_yet_open("EUR"), cycle.start, middle), PlanSegment(plan, middle, cycle.end))
    usage = {UsageKey(plan.plan_id, plan.version, key.service): units for key, units in invoice.usage_totals.items()}
    return replace(invoice, plan_segments=segments, usage_totals=usage)


@settings(deadline=None, max_examples=150)
@given(st.data())
def test_the_figure_for_the_plan_billed_is_what_was_billed(data):
    catalog = data.draw(catalogs())
    inputs = [data.draw(single_plan_cycles(catalog, cycle, late)) for cycle, late in ((SEP, AUG), (OCT, SEP))]
    cycles = [BilledCycle(invoice, build_invoice(invoice).total_minor) for invoice in inputs]
    advice = advise_plans(catalog, cycles, None, inputs[-1].plan_segments[-1].plan.plan_id, NOW)
    by_plan = {option.plan_id: option for option in advice.options}
    for index, invoice in enumerate(inputs):
        billed_on = invoice.plan_segments[-1].plan.plan_id
        if billed_on in by_plan:  # a plan that offers every service the account used
            assert by_plan[billed_on].cycle_totals_minor[index] == cycles[index].billed_total_minor
            assert by_plan[billed_on].differences_minor[index] == 0
    assert advice.best_saving_minor >= 0


quantities = st.lists(st.integers(0, 400), min_size=0, max_size=40)


@settings(deadline=None, max_examples=150)
@given(catalogs(), st.dictionaries(st.sampled_from(list(ServiceKind)), quantities), tax_rates)
def test_another_plan_costs_what_the_closer_would_have_billed_on_it(catalog, events, tax_rate):
    # November: billed on beta; alpha has one version (v2) over November. On alpha the same events round to
    # alpha's increments, and the closer would have priced those units on alpha v2.
    beta, alpha = catalog.plan_version("beta", 1), catalog.plan_version("alpha", 2)

    def billed_units(plan, service_kind, sizes):
        return sum(billable_units(size, plan.rate_for(service_kind).increment) for size in sizes)

    def bill(plan):
        usage = {
            UsageKey(plan.plan_id, plan.version, kind): billed_units(plan, kind, sizes)
            for kind, sizes in events.items()
        }
        return InvoiceInput("acc", "EUR", NOV, (PlanSegment(plan, NOV.start, NOV.end),), usage, tax_rate)

    counts = {kind: Counter(sizes) for kind, sizes in events.items()}
    on_beta = bill(beta)
    advice = advise_plans(
        catalog, [BilledCycle(on_beta, build_invoice(on_beta).total_minor, counts)], None, "beta", NOW
    )
    by_plan = {option.plan_id: option for option in advice.options}
    assert by_plan["alpha"].cycle_totals_minor == (build_invoice(bill(alpha)).total_minor,)
    assert by_plan["alpha"].exact


# Hand-computed: two plans, increment 1/1, prices in cents per unit, no tax.
#   small  fee 10.00, voice: 100 included, then 2 c
#   big    fee 20.00, voice: 1000 included, then 1 c
#   yen    a JPY plan: never an option for a EUR account
CATALOG = Catalog.from_dict(
    {
        "taxes": {"XX": 0},
        "plans": [
            plan_dict("small", "EUR", 1000, {"voice": service(100, (1, 1), [open_tier("2")])}),
            plan_dict("big", "EUR", 2000, {"voice": service(1000, (1, 1), [open_tier("1")])}),
            plan_dict("yen", "JPY", 500, {"voice": service(0, (1, 1), [open_tier("1")])}),
        ],
    }
)
SMALL = CATALOG.plan_version("small", 1)


def _on_small(cycle, voice):
    return InvoiceInput(
        "acc", "EUR", cycle, (PlanSegment(SMALL, cycle.start, cycle.end),), {("small", 1, "voice"): voice}, 0
    )


def test_hand_computed_cycles_forecast_and_cheapest_plan():
    # September 400 units on small: 1000 + (400 - 100) x 2 = 1600; on big: 2000 (all within 1000 included).
    # October 1200 units on small: 1000 + 1100 x 2 = 3200; on big: 2000 + 200 x 1 = 2200.
    cycles = [BilledCycle(_on_small(SEP, 400), 1600), BilledCycle(_on_small(OCT, 1200), 3200)]
    # November (30 days) so far, read on the 10th: 10 days elapsed, 300 units -> 300 x 30 / 10 = 900 at this pace.
    # On small: 1000 + 800 x 2 = 2600; on big: 2000 (within the allowance).
    so_far = CycleSoFar(_on_small(NOV, 300), date(2026, 11, 10))
    advice = advise_plans(CATALOG, cycles, so_far, "small", datetime(2026, 11, 10, 8, tzinfo=UTC))
    assert advice.excluded == {"yen": "priced in JPY, not EUR"}
    big, small = advice.options  # cheapest first: big 4200 over the two cycles, small 4800
    assert (big.plan_id, big.cycle_totals_minor, big.differences_minor, big.forecast_minor) == (
        "big",
        (2000, 2200),
        (400, -1000),
        2000,
    )
    assert (small.cycle_totals_minor, small.differences_minor, small.forecast_minor) == ((1600, 3200), (0, 0), 2600)
    assert small.is_current and not big.is_current
    # Billed 1600 + 3200 = 4800; big would have cost 4200: a saving of 600.
    assert (advice.cheapest_plan_id, advice.best_saving_minor) == ("big", 600)
    assert (advice.forecast_elapsed_days, advice.forecast_cycle_days) == (10, 30)


def test_an_other_increment_without_raw_quantities_is_marked_not_exact():
    per_minute = Catalog.from_dict(
        {
            "plans": [
                plan_dict("small", "EUR", 1000, {"voice": service(100, (1, 1), [open_tier("2")])}),
                plan_dict("minutes", "EUR", 500, {"voice": service(0, (60, 60), [open_tier("1")])}),
            ]
        }
    )
    # Three calls of 10 units: 30 billable units on small (1/1); on minutes (60/60) each call is 60: 180 -> 180 c.
    cycle = BilledCycle(_on_small(OCT, 30), 1000, {ServiceKind.VOICE: {10: 3}})
    minutes = next(o for o in advise_plans(per_minute, [cycle], None, "small", NOW).options if o.plan_id == "minutes")
    assert (minutes.cycle_totals_minor, minutes.exact) == ((500 + 180,), True)
    # Without the quantities the 30 billed units are priced as they are: 500 + 30, and said to be inexact.
    cycle = BilledCycle(_on_small(OCT, 30), 1000)
    minutes = next(o for o in advise_plans(per_minute, [cycle], None, "small", NOW).options if o.plan_id == "minutes")
    assert (minutes.cycle_totals_minor, minutes.exact) == ((530,), False)


def test_a_plan_not_yet_in_force_at_a_cycle_has_no_figure_for_it():
    later = Catalog.from_dict(
        {
            "plans": [
                plan_dict("small", "EUR", 1000, {"voice": service(100, (1, 1), [open_tier("2")])}),
                plan_dict(
                    "new",
                    "EUR",
                    100,
                    {"voice": service(0, (1, 1), [open_tier("1")])},
                    effective_from="2026-10-01T00:00:00Z",
                ),
            ]
        }
    )
    cycles = [BilledCycle(_on_small(SEP, 0), 1000), BilledCycle(_on_small(OCT, 0), 1000)]
    advice = advise_plans(later, cycles, None, "small", NOW)
    new = next(option for option in advice.options if option.plan_id == "new")
    assert new.cycle_totals_minor == (None, 100) and new.total_minor is None
    assert advice.cheapest_plan_id == "small"  # the only plan with a figure for every cycle
