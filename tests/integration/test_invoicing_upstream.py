"""An invoice an upstream producer published for a period this system has not closed yet: the closer must not
bill that period a second time, nor drop it. Its own invoice is held for a reviewer, announced as held, and the
next period is invoiced as usual.

mobile-l, DE 19 %, no usage: 2,999 + round_half_up(569.81) = 3,569 a month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ops.loadgen import publish, record_of
from schemas import envelope as ev
from schemas import parse_event
from schemas.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.test_discounts_scenarios import _close_months, _open_account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(dated_stack):
    """No closer on this stack: the test closes March and April itself."""
    return dated_stack.settings


def _upstream_march(account: str, invoice_id: str) -> ev.InvoiceIssuedEvent:
    at = datetime(2027, 4, 2, tzinfo=UTC)
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=2999)
    return ev.InvoiceIssuedEvent(
        event_id=unique("up"), type="invoice.issued.v1", source="billing/legacy", occurred_at=at, schema_version=1,
        payload=InvoiceIssued(account_id=account, invoice_id=invoice_id, invoice_number=unique("LEG")[:32],
                              period_start=date(2027, 3, 1), period_end=date(2027, 4, 1), issued_at=at,
                              due_date=date(2027, 4, 16), currency="EUR", lines=(line,), subtotal_minor=2999,
                              discount_minor=0, tax_minor=0, total_minor=2999),
    )  # fmt: skip


async def test_a_period_already_invoiced_upstream_is_held_not_billed_twice(live) -> None:
    account, upstream = await _open_account(live), unique("inv-legacy")
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(_upstream_march(account, upstream))])
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", upstream),
                     lambda n: n == 1)  # fmt: skip

    assert await _close_months(live, account, [3, 4]) == [(2999, 0, 570, 3569), (2999, 0, 570, 3569)]
    rows = await fetch(dsn, "SELECT invoice_id, period_start, status, invoice_number, hold_reason FROM invoices"
                            " WHERE account_id = $1 ORDER BY period_start", account)  # fmt: skip
    march, april = rows
    assert (march["period_start"], march["status"], march["invoice_number"]) == (date(2027, 3, 1), "held", None)
    assert f"upstream invoice {upstream} (" in march["hold_reason"] and "not billed twice" in march["hold_reason"]
    assert (april["period_start"], april["status"]) == (date(2027, 4, 1), "issued")

    # March is announced as held (a reviewer's task), never as issued; April is issued.
    events = [parse_event(bytes(r["value"])) for r in await fetch(
        dsn, "SELECT value FROM outbox WHERE key = $1 ORDER BY id", account.encode())]  # fmt: skip
    announced = [(e.type, e.payload.invoice_id) for e in events if e.type.startswith("invoice.")]
    assert announced == [("invoice.held.v1", march["invoice_id"]), ("invoice.issued.v1", april["invoice_id"])]
