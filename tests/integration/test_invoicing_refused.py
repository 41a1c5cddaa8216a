"""A cycle whose data cannot make an invoice is refused once, kept open, and not retried on every pass.

Seen in the workers' logs: an account opened on 19 October 2025 on mobile-s, whose first version starts on
1 January 2026 (demo catalog), made the closer log `no version of plan mobile-s in force` on every pass. It is a
permanent input problem: the closer now reports it once (with what to do), leaves the account's cycle open
(nothing billed, nothing dropped) and keeps it out of later passes (CycleCloser retries refused accounts hourly).
Runs on the dated stack, whose workers run no closer, so only this test closes the account.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from billing.invoicing.closer import close_due_cycles
from billing.invoicing.rules.catalog import demo_catalog
from billing.platform.settings import Settings
from tests.integration.helpers import fetchval, unique
from tests.integration.invoicing_helpers import opened, publish_and_wait

pytestmark = pytest.mark.integration
OPENED = datetime(2025, 10, 19, 9, tzinfo=UTC)  # before mobile-s v1 (2026-01-01)
AS_OF = datetime(2025, 11, 3, tzinfo=UTC)  # the October cycle (1 Oct - 1 Nov, anchor day 1) is due


@pytest.fixture(scope="module")
def live(dated_stack) -> Settings:
    return dated_stack.settings


async def test_a_cycle_without_a_plan_version_is_refused_once_and_stays_open(live) -> None:
    account = unique("noversion")
    await publish_and_wait(live, [opened(account, "mobile-s", "EUR", "DE", OPENED)], [])
    dsn = live.require_database_url()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        refused: dict[str, str] = {}  # the closer loop keeps this between passes
        first = await close_due_cycles(pool, demo_catalog(), live, AS_OF, accounts=[account], refused=refused)
        assert (first.issued, first.held, first.skipped) == (0, 0, 1)
        assert len(first.errors) == 1 and first.errors[0].startswith(f"{account}: no version of plan 'mobile-s'")
        assert list(refused) == [account]

        second = await close_due_cycles(pool, demo_catalog(), live, AS_OF, accounts=[account], refused=refused)
        assert (second.issued, second.held, second.skipped, second.errors) == (0, 0, 0, [])

        # Not dropped: the cycle is still open and uninvoiced, and a run without the memory refuses it again.
        assert await fetchval(dsn, "SELECT next_cycle_start FROM accounts WHERE account_id = $1", account) == date(
            2025, 10, 1
        )
        assert await fetchval(dsn, "SELECT count(*) FROM invoices WHERE account_id = $1", account) == 0
        again = await close_due_cycles(pool, demo_catalog(), live, AS_OF, accounts=[account])
        assert len(again.errors) == 1 and again.errors[0].startswith(f"{account}: ")
    finally:
        await pool.close()
