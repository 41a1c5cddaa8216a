"""The back-office commands against the real stack: an outlier invoice is held, announced for a reviewer's task,
listed, released with the next number, and an account shows its open cycle and invoices.

Amounts from the demo catalog, mobile-s v2 (fee 1099 cents; voice 6000 s included, 60/1, 6000 s @ 0.14 then
@ 0.08), tax DE 19 %. Sync tests: the commands run their own event loop, as they do for a person.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from billing.contracts.usage import ServiceKind
from billing.entrypoints.cli.main import main
from billing.platform.settings import Settings
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.invoicing_helpers import find_on_topic, opened, publish_and_wait, used

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(dated_stack) -> Settings:
    """The dated stack runs no closer: usage stamped "now" elsewhere cannot close November before the test does."""
    return dated_stack.settings


def billing(live, *args: str):
    result = CliRunner().invoke(main, list(args), env={"DATABASE_URL": live.require_database_url()})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_without_database_url_it_says_to_run_billing_up() -> None:
    result = CliRunner().invoke(main, ["invoices", "held"], env={"DATABASE_URL": None})
    assert result.exit_code == 2
    assert "DATABASE_URL is not set: run `billing up`" in result.output


def test_an_outlier_is_held_announced_listed_and_released(live) -> None:
    account = unique("outlier")
    dsn = live.require_database_url()
    # Opened 1 August; no usage until November, then one 86,400 s call (the sanity limit for one record).
    asyncio.run(
        publish_and_wait(
            live,
            [opened(account, "mobile-s", "EUR", "DE", datetime(2026, 8, 1, tzinfo=UTC))],
            [used(account, ServiceKind.VOICE, 86_400, datetime(2026, 11, 7, 9, tzinfo=UTC))],
        )
    )

    # August, September, October: the fee alone, 1099 + 19 % (208.81 -> 209) = 1308 each.
    closing = billing(live, "cycles", "close", "--as-of", "2026-11-02", "--account", account)
    assert closing.exit_code == 0 and "invoices/s" in closing.output
    # A batch the workers hold is skipped by the command (SKIP LOCKED) and committed by them a moment later.
    totals = asyncio.run(
        eventually(
            lambda: fetch(
                dsn,
                "SELECT period_start, status, total_minor FROM invoices WHERE account_id = $1 ORDER BY period_start",
                account,
            ),
            lambda rows: len(rows) >= 3,
        )
    )
    assert [tuple(r.values()) for r in totals] == [(date(2026, month, 1), "issued", 1308) for month in (8, 9, 10)]

    # November so far: 86,400 s - 6000 included = 80,400 chargeable; tier 1 6000 x 0.14 = 840;
    # tier 2 74,400 x 0.08 = 5952. 1099 + 840 + 5952 = 7891; tax 1499.29 -> 1499; 9390 = 93.90 EUR.
    shown = billing(live, "account", "show", account)
    assert shown.exit_code == 0, shown.output
    assert "open cycle: 2026-11-01 to 2026-12-01" in shown.output
    assert "voice          86,400 billable units in 1 events" in shown.output
    assert "rated so far: 93.90 EUR" in shown.output
    assert "13.08 EUR" in shown.output  # the latest invoices, October first

    # 9390 is over 5 x the median 1308 = 6540: held, not issued, and announced for a reviewer.
    held_close = billing(live, "cycles", "close", "--as-of", "2026-12-02", "--account", account)
    assert "closed 1 cycles: 0 issued, 1 held for review" in held_close.output
    invoice_id = f"inv-{account}-20261101"
    row = asyncio.run(
        fetch(dsn, "SELECT status, invoice_number, total_minor FROM invoices WHERE invoice_id = $1", invoice_id)
    )[0]
    assert tuple(row.values()) == ("held", None, 9390)
    announced = asyncio.run(find_on_topic(live, "billing.invoice-issued.v1", {f"invoice-held:{invoice_id}"}))[
        f"invoice-held:{invoice_id}"
    ]
    assert announced["type"] == "invoice.held.v1"
    payload = announced["payload"]
    assert (payload["total_minor"], payload["recent_totals_minor"], payload["currency"]) == (9390, [1308] * 3, "EUR")

    listed = billing(live, "invoices", "held")
    assert invoice_id in listed.output and "93.90 EUR" in listed.output

    released = billing(live, "invoices", "release", invoice_id)
    assert released.exit_code == 0, released.output
    number = asyncio.run(
        fetchval(dsn, "SELECT invoice_number FROM invoices WHERE invoice_id = $1 AND status = 'issued'", invoice_id)
    )
    assert number is not None and released.output.strip() == f"released {invoice_id} as {number}"
    issued = asyncio.run(find_on_topic(live, "billing.invoice-issued.v1", {f"invoice-issued:{invoice_id}"}))[
        f"invoice-issued:{invoice_id}"
    ]
    assert (issued["payload"]["invoice_number"], issued["payload"]["total_minor"]) == (number, 9390)
    # The ledger consumed both events as our own: no second invoice row anywhere.
    asyncio.run(
        eventually(
            lambda: fetch(
                dsn,
                "SELECT event_id FROM processed_events WHERE event_id = ANY($1) UNION ALL"
                " SELECT reason FROM dead_letters WHERE original_key = $2",
                [f"invoice-held:{invoice_id}", f"invoice-issued:{invoice_id}"],
                account.encode(),
            ),
            lambda rows: len(rows) == 2,
        )
    )
    assert asyncio.run(fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE account_id = $1", account)) == 0
    assert asyncio.run(fetch(dsn, "SELECT reason FROM dead_letters WHERE original_key = $1", account.encode())) == []

    again = billing(live, "invoices", "release", invoice_id)
    assert again.exit_code == 1 and f"is not held: it was issued as {number}" in again.output
    assert invoice_id not in billing(live, "invoices", "held").output
    assert number in billing(live, "account", "show", account).output
