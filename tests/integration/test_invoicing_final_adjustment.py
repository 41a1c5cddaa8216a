"""Issue 16 on the real stack (topics, workers, PostgreSQL, the closer, the CLI):
- a closed account's usage that started before the closing but arrives after its final invoice is billed on a
  final adjustment invoice once the late limit of its cycle has passed, priced with the final period's prorated
  allowance (point 7; point 6 for the allowance);
- a JOD account is rated and invoiced in fils, 3 decimals (point 8), and an account opened in a currency no plan
  of the catalog prices is dead-lettered with the reason when it is opened, not discovered at close (point 8);
- `billing cycles close --as-of` a date later than the event-time clock and today is refused unless --force
  (point 11).

Demo catalog (src/billing/invoicing/rules/catalog_demo_data.py): mobile-s v2 fee 1099 cents, voice 6000 s included, 60/1,
6000 s @ 0.14 then @ 0.08, tax DE 19 %; mobile-jo v1 in fils: fee 7500, voice 3000 s included, 60/1, 6000 s @
0.35 then @ 0.2; sms 50 included then 12.5; data 5 GiB included then 0.000002 per byte (started kB); tax JO 16 %.
Runs on the dated stack (no closer of its own; late limit 36500 days).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner

from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, ClosureReason
from billing.contracts.usage import ServiceKind
from billing.entrypoints.cli.main import main
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.invoicing.loop import event_time_clock
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.invoicing_helpers import amounts, close_for, invoice_of, nov, opened, publish_and_wait, used

pytestmark = pytest.mark.integration
GIB = 1 << 30


@pytest.fixture(scope="module")
def live(dated_stack):
    return dated_stack.settings.model_copy(update={"invoice_series": unique("FA").replace("-", "")})


def closed_event(account: str, at: datetime) -> ev.AccountClosedEvent:
    return ev.AccountClosedEvent(
        event_id=unique("close"),
        source="test/crm",
        occurred_at=at,
        schema_version=1,
        type="account.closed.v1",
        payload=AccountClosed(account_id=account, closed_at=at, reason=ClosureReason.VOLUNTARY),
    )


async def close_account(live, account: str, at: datetime) -> None:
    await publish(live.require_bootstrap(), [record_of(closed_event(account, at))])
    await eventually(
        lambda: fetchval(live.require_database_url(), "SELECT status FROM accounts WHERE account_id = $1", account),
        lambda status: status == "closed",
    )


async def test_late_usage_of_a_closed_account_is_billed_on_a_final_adjustment_invoice(live) -> None:
    account, quiet = unique("final"), unique("quiet")
    dsn = live.require_database_url()
    await publish_and_wait(
        live,
        [opened(account, "mobile-s", "EUR", "DE", nov(1, 0)), opened(quiet, "mobile-s", "EUR", "DE", nov(1, 0))],
        [used(account, ServiceKind.VOICE, 2500, nov(5))],
    )
    await close_account(live, account, nov(10))
    await close_account(live, quiet, nov(10))

    # The final invoices: the closing day's grace period is over on 12 November.
    final = await close_for(live, [account, quiet], datetime(2026, 11, 12, tzinfo=UTC))
    assert (final.issued, final.errors) == (2, [])
    invoice = await invoice_of(live, account, date(2026, 11, 1))
    # 1-10 November, 10 of 30 days: fee 1099 x 10/30 = 366.33 -> 366; allowance 6000 x 10/30 = 2000 s;
    # voice 2500 - 2000 = 500 s x 0.14 = 70. Subtotal 436; tax 19 % 82.84 -> 83; total 519.
    assert amounts(invoice) == {
        "recurring:mobile-s:v2": (366, None),
        "usage:mobile-s:v2:voice:included": (0, 2000),
        "usage:mobile-s:v2:voice:tier1": (70, 500),
        "tax": (83, None),
    }
    assert (invoice["is_final"], invoice["period_end"], invoice["total_minor"]) == (True, date(2026, 11, 11), 519)

    # A 1000 s call of 8 November, before the closing, arrives after the final invoice: rated and stored.
    await publish_and_wait(live, [], [used(account, ServiceKind.VOICE, 1000, nov(8))])
    assert (
        await fetchval(dsn, "SELECT billable_units - billed_units FROM cycle_usage WHERE account_id = $1", account)
        == 1000
    )
    # Not billed before the late limit of November (1 December + LATE_USAGE_LIMIT_DAYS) has passed: later usage
    # of November could still arrive.
    early = await close_for(live, [account, quiet], datetime(2026, 12, 2, tzinfo=UTC))
    assert (early.issued, early.held) == (0, 0)
    deadline = date(2026, 12, 1) + timedelta(days=live.late_usage_limit_days + 1)
    assert await fetchval(
        dsn, "SELECT (next_cycle_start, next_cycle_end) FROM accounts WHERE account_id = $1", account
    ) == (date(2026, 11, 11), deadline)

    # After it (plus the one-day grace period): the final adjustment invoice.
    after = datetime.combine(deadline + timedelta(days=1), datetime.min.time(), UTC)
    adjustment_run = await close_for(live, [account, quiet], after)
    assert (adjustment_run.issued, adjustment_run.skipped, adjustment_run.errors) == (1, 1, [])  # quiet: nothing
    adjustment = await invoice_of(live, account, date(2026, 11, 11))
    # Priced as on time, with the final period's allowance: 3500 - 2000 = 1500 s x 0.14 = 210, of which the
    # final invoice billed 70: the line is 140. No fee. Tax 140 x 19 % = 26.6 -> 27; total 167.
    assert amounts(adjustment) == {"adjustment:2026-11-01:mobile-s:v2:voice": (140, 1000), "tax": (27, None)}
    assert (adjustment["status"], adjustment["is_final"], adjustment["total_minor"]) == ("issued", True, 167)
    assert adjustment["invoice_number"].startswith(f"{live.invoice_series}-{after.year}-")
    assert (
        await fetchval(dsn, "SELECT billable_units - billed_units FROM cycle_usage WHERE account_id = $1", account) == 0
    )
    # Both accounts are done: nothing more is due, ever; the quiet one got no empty invoice.
    assert (
        await fetchval(
            dsn,
            "SELECT count(*) FROM accounts WHERE account_id = ANY($1) AND next_cycle_start IS NULL",
            [account, quiet],
        )
        == 2
    )
    assert await fetchval(dsn, "SELECT count(*) FROM invoices WHERE account_id = $1", quiet) == 1
    again = await close_for(live, [account, quiet], after + timedelta(days=400))
    assert (again.issued, again.held, again.skipped) == (0, 0, 0)


async def test_a_jod_month_is_rated_and_invoiced_with_three_decimals(live) -> None:
    account = unique("jod")
    await publish_and_wait(
        live,
        [opened(account, "mobile-jo", "JOD", "JO", nov(1, 0))],
        [
            used(account, ServiceKind.VOICE, 25, nov(2)),
            used(account, ServiceKind.VOICE, 9000, nov(3)),
            used(account, ServiceKind.VOICE, 3200, nov(4)),  # 60/1: 60 + 9000 + 3200 = 12260 s
            *(used(account, ServiceKind.SMS, 1, nov(5)) for _ in range(53)),
            used(account, ServiceKind.DATA, 6 * GIB, nov(6)),
        ],
    )
    report = await close_for(live, [account], datetime(2026, 12, 2, tzinfo=UTC))
    assert (report.issued, report.errors) == (1, [])
    invoice = await invoice_of(live, account, date(2026, 11, 1))
    # Fils: fee 7500. Voice 12260 - 3000 = 9260 s: 6000 x 0.35 = 2100, 3260 x 0.2 = 652. SMS 3 x 12.5 = 37.5 -> 38.
    # Data 1 GiB beyond 5 GiB: 1,073,741,824 x 0.000002 = 2147.48 -> 2147. Subtotal 12437; tax 16 % 1989.92 -> 1990.
    assert amounts(invoice) == {
        "recurring:mobile-jo:v1": (7500, None),
        "usage:mobile-jo:v1:voice:included": (0, 3000),
        "usage:mobile-jo:v1:voice:tier1": (2100, 6000),
        "usage:mobile-jo:v1:voice:tier2": (652, 3260),
        "usage:mobile-jo:v1:sms:included": (0, 50),
        "usage:mobile-jo:v1:sms:tier1": (38, 3),
        "usage:mobile-jo:v1:data:included": (0, 5 * GIB),
        "usage:mobile-jo:v1:data:tier1": (2147, GIB),
        "tax": (1990, None),
    }
    assert (invoice["currency"], invoice["subtotal_minor"], invoice["total_minor"]) == ("JOD", 12437, 14427)
    # The command runs its own event loop, as it does for a person: in a thread, beside this test's loop.
    shown = await asyncio.to_thread(
        CliRunner().invoke, main, ["account", "show", account], env={"DATABASE_URL": live.require_database_url()}
    )
    assert shown.exit_code == 0 and "total 14.427 JOD" in shown.output


async def test_an_account_in_a_currency_no_plan_prices_is_dead_lettered_when_opened(live) -> None:
    account = unique("usd")
    dsn = live.require_database_url()
    await publish(live.require_bootstrap(), [record_of(opened(account, "mobile-s", "USD", "US", nov(1, 0)))])
    reasons = await eventually(
        lambda: fetch(dsn, "SELECT reason FROM dead_letters WHERE original_key = $1", account.encode()),
        lambda rows: len(rows) == 1,
    )
    assert reasons[0]["reason"].startswith(
        f"account {account} cannot be billed: no plan of the catalog is priced in USD"
    )
    assert await fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account) == 0


def test_closing_as_of_a_future_date_is_refused_unless_forced(live) -> None:
    account = unique("future")
    dsn = live.require_database_url()
    august = datetime(2026, 8, 1, tzinfo=UTC)
    asyncio.run(publish_and_wait(live, [opened(account, "mobile-s", "EUR", "DE", august)], []))
    clock = asyncio.run(_clock(dsn))
    today = datetime.now(UTC).date()
    # Later than both the event-time clock and today, with room for usage other tests are still landing.
    future = max(today, clock.date() if clock else today) + timedelta(days=30)

    def close(*extra: str):
        env = {"DATABASE_URL": dsn, "INVOICE_SERIES": live.invoice_series}
        return CliRunner().invoke(
            main, ["cycles", "close", "--as-of", future.isoformat(), "--account", account, *extra], env=env
        )

    refused = close()
    assert refused.exit_code == 2
    assert f"error: --as-of {future} is later than today ({today})" in refused.output
    assert "pass --force to close them anyway." in refused.output and "Traceback" not in refused.output
    assert asyncio.run(fetchval(dsn, "SELECT count(*) FROM invoices WHERE account_id = $1", account)) == 0

    forced = close("--force")
    assert forced.exit_code == 0, forced.output
    # August 2026 at least is due by then (it ended on 1 September): forced, the close goes ahead.
    assert asyncio.run(fetchval(dsn, "SELECT count(*) FROM invoices WHERE account_id = $1", account)) >= 1


async def _clock(dsn: str) -> datetime | None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await event_time_clock(conn)
    finally:
        await conn.close()
