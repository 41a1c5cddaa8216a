"""Usage rated under a plan that holds none of the cycle's days (a change during the cycle's first day).

Test catalog (billing_test_factories.build_test_catalog), EUR cents, 19 %. November 2026, 30 days, all of them on
talk-l v1 (the change to it took effect during 1 November, so that day is talk-l's). That morning a 700 s call
was rated on talk-s v1 (60/1 -> 700 s), which holds no day and so no share of its 3,000 s allowance:
    talk-l fee 3000 x 30/30 = 3000
    talk-s voice, chargeable 700 s: tier 1 600 x 0.25 = 150.00 -> 150; tier 2 100 x 0.15 = 15.00 -> 15
    subtotal 3000 + 150 + 15 = 3165; tax 3165 x 19 % = 601.35 -> 601; total 3766
"""

from datetime import UTC, date, datetime

import pytest
from billing_test_factories import build_test_catalog

from billing.invoicing.rules.calculation import build_invoice
from billing.invoicing.rules.catalog import ServiceKind
from billing.invoicing.rules.cycles import Cycle
from billing.invoicing.rules.inputs import usage_only_plans
from billing.invoicing.rules.invoice_model import InvoiceError, InvoiceInput, PlanSegment
from billing.invoicing.rules.plan_advisor import BilledCycle, advise_plans
from billing.invoicing.rules.pricing import UsageKey

NOVEMBER = Cycle(date(2026, 11, 1), date(2026, 12, 1))
CATALOG = build_test_catalog()
SMALL, LARGE = CATALOG.plan_version("talk-s", 1), CATALOG.plan_version("talk-l", 1)
USAGE = {UsageKey("talk-s", 1, ServiceKind.VOICE): 700}
SEGMENTS = (PlanSegment(LARGE, NOVEMBER.start, NOVEMBER.end),)


def _invoice(**extra) -> InvoiceInput:
    return InvoiceInput("acc-1", "EUR", NOVEMBER, SEGMENTS, USAGE, 1900, **extra)


def test_the_plan_is_found_from_the_usage_and_priced_without_allowance_or_fee() -> None:
    plans = usage_only_plans(CATALOG, SEGMENTS, USAGE)
    assert plans == (SMALL,)
    draft = build_invoice(_invoice(usage_only_plans=plans))
    assert {line.line_id: line.amount_minor for line in draft.lines} == {
        "recurring:talk-l:v1": 3000,
        "usage:talk-s:v1:voice:tier1": 150,
        "usage:talk-s:v1:voice:tier2": 15,
        "tax": 601,
    }
    assert (draft.subtotal_minor, draft.tax_minor, draft.total_minor) == (3165, 601, 3766)


def test_without_it_the_cycle_is_refused_as_before() -> None:
    with pytest.raises(InvoiceError, match="usage rated under plans not on this invoice"):
        build_invoice(_invoice())


def test_the_plan_advisor_prices_such_a_cycle_on_every_plan() -> None:
    """It raised KeyError (the account view answered 500): the billed plan is now priced as it was billed."""
    cycle = BilledCycle(_invoice(usage_only_plans=(SMALL,)), 3766)
    advice = advise_plans(CATALOG, [cycle], None, "talk-l", datetime(2026, 12, 5, tzinfo=UTC))
    totals = {option.plan_id: option.cycle_totals_minor for option in advice.options}
    assert totals["talk-l"] == (3766,)
    # On talk-s for the whole month: fee 1000; the 700 s inside its full 3,000 s allowance; 1000 + 19 % = 1190.
    assert totals["talk-s"] == (1190,)
