"""Property tests for the invariants the billing core promises."""

import itertools
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billing_test_factories import merge_usage_totals, open_tier, plan_dict, rated, service, usage_totals, utc
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import Catalog, ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.invoice_model import Adjustment, AdjustmentKind, InvoiceInput, PlanSegment
from billing.invoicing.rules.pricing import price_service
from billing.money import allocate, round_minor
from billing.usage.rules.rating import SANITY_LIMITS

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))

# Small allowances, several tiers and a minimum so random usage crosses boundaries often.
_PROPERTY_PLAN = Catalog.from_dict(
    {
        "plans": [
            plan_dict(
                "prop",
                "EUR",
                1499,
                {
                    "voice": service(
                        120,
                        (60, 1),
                        [
                            {"up_to_units": 100, "unit_price": "0.33"},
                            {"up_to_units": 400, "unit_price": "0.25"},
                            open_tier("0.1"),
                        ],
                        minimum=7,
                    ),
                    "data": service(2048, (1024, 1024), [open_tier("0.003")]),
                    "sms": service(1, (1, 1), [open_tier("9.5")], minimum=20),
                },
            )
        ]
    }
).plan_version("prop", 1)

# Up to 5000 per record, but never beyond the sanity limit above which the rating refuses a record (sms: 1000).
usage_specs = st.lists(
    st.sampled_from(list(ServiceKind)).flatmap(
        lambda kind: st.tuples(st.just(kind), st.integers(0, min(5000, SANITY_LIMITS[kind])), st.integers(0, 29))
    ),
    max_size=25,
)
adjustments = st.lists(
    st.one_of(
        st.builds(Adjustment, st.just(AdjustmentKind.PERCENT), st.uuids().map(str), percent_bp=st.integers(0, 10000)),
        st.builds(
            Adjustment,
            st.sampled_from([AdjustmentKind.FIXED, AdjustmentKind.CREDIT]),
            st.uuids().map(str),
            amount_minor=st.integers(0, 5000),
        ),
    ),
    max_size=4,
    unique_by=lambda grant: grant.grant_id,
)


def _rate_all(specs):
    return [
        rated(_PROPERTY_PLAN, kind, quantity, utc(2026, 11, 1) + timedelta(days=day)) for kind, quantity, day in specs
    ]


def _invoice(totals, grants=(), tax_rate_bp=1900):
    return build_invoice(
        InvoiceInput(
            account_id="acc-p",
            currency="EUR",
            cycle=NOVEMBER,
            plan_segments=(PlanSegment(_PROPERTY_PLAN, NOVEMBER.start, NOVEMBER.end),),
            usage_totals=totals,
            tax_rate_bp=tax_rate_bp,
            adjustments=tuple(grants),
        )
    )


@settings(deadline=None)
@given(usage_specs, st.randoms(use_true_random=False))
def test_event_order_does_not_change_the_invoice(specs, random):
    events = _rate_all(specs)
    shuffled = list(events)
    random.shuffle(shuffled)
    assert _invoice(usage_totals(shuffled, NOVEMBER)) == _invoice(usage_totals(events, NOVEMBER))


@settings(deadline=None)
@given(usage_specs, st.lists(st.integers(0, 25), max_size=6))
def test_any_batching_gives_the_same_invoice(specs, cut_points):
    events = _rate_all(specs)
    cuts = [0, *sorted(min(cut, len(events)) for cut in cut_points), len(events)]
    batches = [events[start:end] for start, end in itertools.pairwise(cuts)]
    batched = merge_usage_totals(*(usage_totals(batch, NOVEMBER) for batch in batches))
    assert _invoice(batched) == _invoice(usage_totals(events, NOVEMBER))


@settings(deadline=None)
@given(usage_specs, adjustments, st.integers(0, 2500))
def test_lines_sum_to_total_and_total_is_never_negative(specs, grants, tax_rate_bp):
    invoice = _invoice(usage_totals(_rate_all(specs), NOVEMBER), grants, tax_rate_bp)
    assert sum(line.amount_minor for line in invoice.lines) == invoice.total_minor
    assert invoice.total_minor >= 0
    assert invoice.discount_minor <= 0 and invoice.credit_minor <= 0
    assert all(amount > 0 for amount in invoice.carry_forward.values())


@given(st.sampled_from(list(ServiceKind)), st.integers(0, 10_000), st.integers(0, 10_000))
def test_more_usage_never_costs_less(kind, units, extra):
    rate = _PROPERTY_PLAN.rate_for(kind)
    assert price_service(rate, units + extra).total_minor >= price_service(rate, units).total_minor


@given(st.integers(-(10**12), 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
def test_allocate_sums_to_total_and_stays_within_one_of_exact_share(total, weights):
    if sum(weights) == 0:
        weights = [*weights[:-1], 1]
    parts = allocate(total, weights)
    weight_sum = sum(weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights):
        # |part - total * weight / weight_sum| < 1, kept in integers.
        assert abs(part * weight_sum - total * weight) < weight_sum


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False))
def test_round_minor_agrees_with_decimal_half_up(amount):
    assert round_minor(amount) == int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
