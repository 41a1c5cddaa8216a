"""A plan change during the first day of a cycle, after that day's usage was rated on the old plan.

Days are the proration unit: a change that takes effect during a day gives that whole day to the new plan. The
rating, though, prices each call under the plan in force at the instant it started. So when the change falls on
the cycle's first day, the morning's calls were rated on a plan that holds none of the cycle's days, and the
cycle close refused the invoice ("usage rated under plans not on this invoice"): a customer who changed plan
"now" on their bill day was never billed for that cycle. Now such usage is priced at the rates it was rated
under, with no allowance (the plan holds no day of the cycle, so no share of its allowance or fee).

By hand, demo catalog (src/billing/invoicing/rules/catalog_demo_data.py), EUR cents, DE 19 %:
    Opened 1 November 2026 00:00 on mobile-s, anchor day 1; changed to mobile-l at 14:00 the same day.
    mobile-l v1 holds all 30 days of November: fee 2999.
    09:00, 600 s call rated on mobile-s v2 (60/1 -> 600 s), no allowance: tier 1, 600 x 0.14 = 84.
    15:00, 120 s call on mobile-l v1 (60/1 -> 120 s): inside its 60,000 s allowance, 0.
    Subtotal 2999 + 84 = 3083; tax 3083 x 19 % = 585.77 -> 586; total 3669.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from billing.contracts.usage import ServiceKind
from billing.invoicing.advisor_inputs import advise_account
from billing.invoicing.documents import load_invoice_document
from billing.invoicing.rules.catalog import demo_catalog
from billing.platform.settings import Settings
from tests.integration.helpers import unique
from tests.integration.invoicing_helpers import (
    amounts,
    close_for,
    invoice_of,
    nov,
    opened,
    plan_changed,
    publish_and_wait,
    used,
)

pytestmark = pytest.mark.integration
NOV_CLOSE = datetime(2026, 12, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def live(dated_stack) -> Settings:
    return dated_stack.settings


async def test_a_change_on_the_first_day_bills_that_mornings_usage_on_the_old_plan(live) -> None:
    account = unique("day1")
    accounts = [opened(account, "mobile-s", "EUR", "DE", nov(1, 0)), plan_changed(account, "mobile-l", nov(1, 14))]
    usage = [used(account, ServiceKind.VOICE, 600, nov(1, 9)), used(account, ServiceKind.VOICE, 120, nov(1, 15))]
    await publish_and_wait(live, accounts, usage)
    own = live.model_copy(update={"invoice_series": unique("FD").replace("-", "")})

    closed = await close_for(own, [account], NOV_CLOSE)
    assert (closed.issued, closed.held, closed.errors) == (1, 0, [])
    november = await invoice_of(live, account, date(2026, 11, 1))
    assert amounts(november) == {
        "recurring:mobile-l:v1": (2999, None),
        "usage:mobile-s:v2:voice:tier1": (84, 600),
        "usage:mobile-l:v1:voice:included": (0, 120),
        "tax": (586, None),
    }
    assert (november["subtotal_minor"], november["tax_minor"], november["total_minor"]) == (3083, 586, 3669)

    # The plan advice on the account (the agent's account view and plan options) read this cycle and raised
    # KeyError (a 500): the plan billed is now priced as it was billed.
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        advised = await advise_account(pool, demo_catalog(), account, 3, datetime(2026, 12, 5, tzinfo=UTC))
        document = await load_invoice_document(pool, november["invoice_id"])  # the document and its explanation
    finally:
        await pool.close()
    assert advised is not None
    on_l = next(option for option in advised.advice.options if option.plan_id == "mobile-l")
    assert on_l.cycle_totals_minor[0] == 3669
    assert document["total_minor"] == 3669
    # The morning's calls appear under the plan they were priced on, with no fee of their own.
    assert [g["title"] for g in document["groups"]] == [
        "Plan mobile-l v1",
        "Voice (mobile-l v1)",
        "Voice (mobile-s v2)",
    ]
