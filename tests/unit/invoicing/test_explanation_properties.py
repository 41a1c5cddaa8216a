"""Property tests of the bill explanation: for random pairs of invoices built by the real calculation (random
plans, plan changes, usage, late usage, discounts, credits and tax rates), the causes add up to the change of
the total exactly, to the minor unit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing_test_factories import plan_dict, service
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.explanation import CauseKind, explain_invoice
from billing.invoicing.rules.invoice_model import Adjustment, AdjustmentKind, InvoiceInput, LateUsage, PlanSegment
from billing.invoicing.rules.pricing import UsageKey

AUG, SEP, OCT, NOV = (Cycle(date(2026, m, 1), date(2026, m + 1, 1)) for m in (8, 9, 10, 11))
GRANT_KINDS = {"percent-a": AdjustmentKind.PERCENT, "fixed-b": AdjustmentKind.FIXED, "credit-c": AdjustmentKind.CREDIT}

prices = st.decimals(min_value=0, max_value=40, places=3).map(str)


@st.composite
def services(draw):
    result = {}
    for kind in ServiceKind:
        bounds = sorted(set(draw(st.lists(st.integers(1, 4000), max_size=2))))
        tiers = [{"up_to_units": bound, "unit_price": draw(prices)} for bound in bounds]
        tiers.append({"up_to_units": None, "unit_price": draw(prices)})
        increment = draw(st.sampled_from([(1, 1), (60, 1), (30, 30)]))
        result[kind.value] = service(draw(st.integers(0, 3000)), increment, tiers, minimum=draw(st.integers(0, 400)))
    return result


@st.composite
def catalogs(draw):
    plans = [
        plan_dict("alpha", "EUR", draw(st.integers(0, 6000)), draw(services())),
        plan_dict(
            "alpha", "EUR", draw(st.integers(0, 6000)), draw(services()), 2, effective_from="2026-10-01T00:00:00Z"
        ),
        plan_dict("beta", "EUR", draw(st.integers(0, 6000)), draw(services())),
    ]
    return Catalog.from_dict({"plans": plans})


tax_rates = st.one_of(st.integers(0, 2700), st.decimals(min_value=0, max_value=2700, places=1))


@st.composite
def invoice_inputs(draw, catalog, cycle, late_cycle):
    plans = catalog.plans
    first = draw(st.sampled_from(plans))
    split = draw(st.none() | st.integers(1, cycle.days - 1))
    if split is None:
        segments = (PlanSegment(first, cycle.start, cycle.end),)
    else:
        second = draw(st.sampled_from([plan for plan in plans if plan.label != first.label]))
        middle = cycle.start + timedelta(days=split)
        segments = (PlanSegment(first, cycle.start, middle), PlanSegment(second, middle, cycle.end))
    usage = {}
    for segment in segments:
        for kind in draw(st.sets(st.sampled_from(list(ServiceKind)))):
            usage[UsageKey(segment.plan.plan_id, segment.plan.version, kind)] = draw(st.integers(0, 12_000))
    late = tuple(
        LateUsage(
            late_cycle, draw(st.sampled_from(plans)), kind, draw(st.integers(0, 3000)), draw(st.integers(0, 9000))
        )
        for kind in draw(st.sets(st.sampled_from(list(ServiceKind)), max_size=2))
    )
    grants = []
    for grant_id in draw(st.sets(st.sampled_from(sorted(GRANT_KINDS)))):
        kind = GRANT_KINDS[grant_id]
        if kind is AdjustmentKind.PERCENT:
            grants.append(Adjustment(kind, grant_id, percent_bp=draw(st.integers(0, 10_000))))
        else:
            grants.append(Adjustment(kind, grant_id, amount_minor=draw(st.integers(0, 8000))))
    return InvoiceInput("acc-p", "EUR", cycle, segments, usage, draw(tax_rates), late, tuple(grants))


@st.composite
def invoice_pairs(draw):
    catalog = draw(catalogs())
    previous = build_invoice(draw(invoice_inputs(catalog, OCT, AUG)))
    current = build_invoice(draw(invoice_inputs(catalog, NOV, SEP)))
    return previous, current


def _check_order(explanation):
    sizes = [abs(cause.amount_minor) for cause in explanation.causes]
    assert sizes == sorted(sizes, reverse=True)
    assert all(cause.amount_minor for cause in explanation.causes)
    assert all(cause.amount_minor == cause.net_minor + cause.tax_minor for cause in explanation.causes)


@settings(deadline=None, max_examples=300)
@given(invoice_pairs())
def test_the_causes_add_up_to_the_change_of_the_total(pair):
    previous, current = pair
    explanation = explain_invoice(current, previous)
    assert sum(cause.amount_minor for cause in explanation.causes) == current.total_minor - previous.total_minor
    _check_order(explanation)
    # Tax comes in shares: its change is in the causes' shares plus the rate change and rounding causes.
    assert sum(cause.tax_minor for cause in explanation.causes) == current.tax_minor - previous.tax_minor


@settings(deadline=None, max_examples=100)
@given(invoice_pairs())
def test_a_first_invoice_is_explained_by_parts_that_add_up_to_its_total(pair):
    _, current = pair
    explanation = explain_invoice(current, None)
    assert sum(cause.amount_minor for cause in explanation.causes) == current.total_minor
    _check_order(explanation)
    taxes = [cause for cause in explanation.causes if cause.kind is CauseKind.TAX]
    assert sum(cause.amount_minor for cause in taxes) == current.tax_minor


@settings(deadline=None, max_examples=50)
@given(invoice_pairs())
def test_an_invoice_against_itself_has_no_causes(pair):
    _, current = pair
    assert explain_invoice(current, current).causes == ()


def test_decimal_tax_rates_are_compared_exactly():
    # 1497.5 bp and Decimal("1497.50") are the same rate: no tax-rate cause.
    catalog = Catalog.from_dict({"plans": [plan_dict("alpha", "EUR", 999, {})]})
    plan = catalog.plans[0]

    def bill(cycle, rate):
        return build_invoice(InvoiceInput("a", "EUR", cycle, (PlanSegment(plan, cycle.start, cycle.end),), {}, rate))

    explanation = explain_invoice(bill(NOV, Decimal("1497.50")), bill(OCT, Decimal("1497.5")))
    assert explanation.causes == ()
