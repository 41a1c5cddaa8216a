"""An invoice an upstream producer published for a period this system has not closed yet: the closer must not
bill that period a second time, nor drop it. Its own invoice is held for a reviewer, announced as held, and the
next period is invoiced as usual.

mobile-l, DE 19 %, no usage: 2,999 + round_half_up(569.81) = 3,569 a month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from billing.contracts import envelope as ev
from billing.contracts import parse_event
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.discounts.rules.grants import GrantRequest
from billing.discounts.rules.policy import GrantKind
from billing.discounts.service import DiscountAsk, request_discount
from billing.entrypoints.cli.main import main
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.invoicing.held import ReleaseError, release_held, void_held
from billing.platform.context import create_pool
from tests.integration.discounts_helpers import (
    AGENT,
    GRANTED_AT,
    POLICY,
    close_months,
    in_tx,
    open_account,
    wait_projected,
)
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(dated_stack):
    """No closer on this stack: the test closes March and April itself."""
    return dated_stack.settings


def _upstream_march(account: str, invoice_id: str) -> ev.InvoiceIssuedEvent:
    at = datetime(2027, 4, 2, tzinfo=UTC)
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=2999)
    return ev.InvoiceIssuedEvent(
        event_id=unique("up"),
        type="invoice.issued.v1",
        source="billing/legacy",
        occurred_at=at,
        schema_version=1,
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=invoice_id,
            invoice_number=unique("LEG")[:32],
            period_start=date(2027, 3, 1),
            period_end=date(2027, 4, 1),
            issued_at=at,
            due_date=date(2027, 4, 16),
            currency="EUR",
            lines=(line,),
            subtotal_minor=2999,
            discount_minor=0,
            tax_minor=0,
            total_minor=2999,
        ),
    )


async def test_a_period_already_invoiced_upstream_is_held_not_billed_twice(live) -> None:
    account, upstream = await open_account(live), unique("inv-legacy")
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(_upstream_march(account, upstream))])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", upstream), lambda n: n == 1
    )

    assert await close_months(live, account, [3, 4]) == [(2999, 0, 570, 3569), (2999, 0, 570, 3569)]
    rows = await fetch(
        dsn,
        "SELECT invoice_id, period_start, status, invoice_number, hold_reason FROM invoices"
        " WHERE account_id = $1 ORDER BY period_start",
        account,
    )
    march, april = rows
    assert (march["period_start"], march["status"], march["invoice_number"]) == (date(2027, 3, 1), "held", None)
    assert f"upstream invoice {upstream} (" in march["hold_reason"] and "not billed twice" in march["hold_reason"]
    assert (april["period_start"], april["status"]) == (date(2027, 4, 1), "issued")

    # March is announced as held (a reviewer's task), never as issued; April is issued.
    events = [
        parse_event(bytes(r["value"]))
        for r in await fetch(dsn, "SELECT value FROM outbox WHERE key = $1 ORDER BY id", account.encode())
    ]
    announced = [(e.type, e.payload.invoice_id) for e in events if e.type.startswith("invoice.")]
    assert announced == [("invoice.held.v1", march["invoice_id"]), ("invoice.issued.v1", april["invoice_id"])]


async def test_a_voided_held_invoice_hands_its_discount_to_the_next_one(live) -> None:
    account, upstream = await open_account(live), unique("inv-legacy")
    dsn = live.require_database_url()
    request = GrantRequest(unique("fix"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=500)
    granted = await in_tx(
        live,
        lambda conn: request_discount(
            conn, POLICY, AGENT, DiscountAsk(request, "outage_goodwill", ("one-day outage",)), GRANTED_AT
        ),
    )
    assert granted.status == "granted"
    await wait_projected(live, request.request_id)
    await publish(live.require_bootstrap(), [record_of(_upstream_march(account, upstream))])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", upstream), lambda n: n == 1
    )

    # March, held: 2,999 - 500 = 2,499 taxable; tax round_half_up(474.81) = 475; total 2,974.
    assert await close_months(live, account, [3]) == [(2999, -500, 475, 2974)]
    march = await fetchval(dsn, "SELECT invoice_id FROM invoices WHERE account_id = $1", account)
    pool = await create_pool(live)
    try:
        with pytest.raises(ReleaseError, match="needs a reason"):
            await void_held(pool, march, "  ")
        assert await void_held(pool, march, "billed by the legacy system as " + upstream) == 1
        with pytest.raises(ReleaseError, match="is not held \\(it is void\\)"):
            await release_held(pool, march, live, GRANTED_AT)
    finally:
        await pool.close()
    row = (await fetch(dsn, "SELECT status, invoice_number, void_reason FROM invoices WHERE invoice_id = $1", march))[0]
    assert (row["status"], row["invoice_number"], row["void_reason"]) == (
        "void",
        None,
        "billed by the legacy system as " + upstream,
    )

    # The 500 goes to April instead: the same arithmetic, on an issued invoice.
    assert (await close_months(live, account, [4]))[-1] == (2999, -500, 475, 2974)
    applied = await fetch(
        dsn,
        "SELECT i.period_start FROM grant_applications a JOIN invoices i USING (invoice_id) WHERE a.grant_id = $1",
        request.request_id,
    )
    assert [r["period_start"] for r in applied] == [date(2027, 4, 1)]


def test_voiding_from_the_command_line_names_what_is_wrong(live) -> None:
    env = {"DATABASE_URL": live.require_database_url()}
    result = CliRunner().invoke(main, ["invoices", "void", "inv-nope", "--reason", "typo"], env=env)
    assert (result.exit_code, result.output.strip()) == (1, "error: there is no invoice inv-nope")
