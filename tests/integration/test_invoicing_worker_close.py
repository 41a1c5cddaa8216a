"""The workers close cycles on their own once the event-time clock passes a cycle's end plus the grace period.

The clock is the slowest usage partition's latest usage time, so this test puts usage of 20 November on every
usage partition; an account opened on 1 October then has its October invoice issued by a worker, published
through the outbox, and absorbed by the ledger as our own. It runs on its own stack: on the session stack other
tests' usage stamped "now" moves the clock, and after 2 December 2026 November would close too.

October on mobile-s v2 (demo catalog): fee 1099 for the whole cycle; one 30 s call, 60/1 -> 60 s, inside the
6000 s allowance (0). Subtotal 1099; tax DE 19 %: 208.81 -> 209; total 1308.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner

from billing.contracts.usage import ServiceKind
from billing.platform.settings import Settings
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.invoicing_helpers import find_on_topic, opened, publish_and_wait, used

pytestmark = pytest.mark.integration
OCT_1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV_20 = datetime(2026, 11, 20, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def live() -> Iterator[Settings]:
    with own_stack("autoclose", closer_interval_s=2.0) as launcher:
        yield launcher.settings


def one_key_per_partition(partitions: int) -> list[str]:
    """Account ids that the producer's default partitioner sends to each usage partition once."""
    partitioner, found = DefaultPartitioner(), {}
    while len(found) < partitions:
        key = unique("clock")
        found.setdefault(partitioner(key.encode(), list(range(partitions)), list(range(partitions))), key)
    return list(found.values())


async def test_a_worker_issues_the_invoice_when_the_event_time_clock_passes_the_cycle(live) -> None:
    account = unique("auto")
    clock_accounts = one_key_per_partition(live.usage_partitions)
    await publish_and_wait(
        live,
        [
            opened(account, "mobile-s", "EUR", "DE", OCT_1),
            *(opened(a, "mobile-s", "EUR", "DE", OCT_1) for a in clock_accounts),
        ],
        [
            used(account, ServiceKind.VOICE, 30, datetime(2026, 10, 10, tzinfo=UTC)),
            *(used(a, ServiceKind.SMS, 1, NOV_20) for a in clock_accounts),
        ],
    )
    dsn = live.require_database_url()
    await eventually(
        lambda: fetchval(dsn, "SELECT min(max_started_at) FROM usage_watermarks"), lambda clock: clock >= NOV_20
    )

    rows = await eventually(
        lambda: fetch(
            dsn,
            "SELECT invoice_id, status, invoice_number, total_minor, issued_at, lines::text AS lines"
            " FROM invoices WHERE account_id = $1 AND period_start = $2",
            account,
            date(2026, 10, 1),
        ),
        lambda found: len(found) == 1,
        timeout_s=90,
    )
    invoice = rows[0]
    assert (invoice["status"], invoice["total_minor"]) == ("issued", 1308)
    # Dated by the event-time clock that found the cycle due (its end plus the grace, at the earliest; no later
    # than the latest usage seen), not by the wall clock.
    latest_usage = await fetchval(dsn, "SELECT max(max_started_at) FROM usage_watermarks")
    assert datetime(2026, 11, 2, tzinfo=UTC) <= invoice["issued_at"] <= latest_usage

    event_id = f"invoice-issued:{invoice['invoice_id']}"
    published = (await find_on_topic(live, "billing.invoice-issued.v1", {event_id}))[event_id]
    assert (published["payload"]["invoice_number"], published["payload"]["total_minor"]) == (
        invoice["invoice_number"],
        1308,
    )
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM processed_events WHERE event_id = $1", event_id), lambda n: n == 1
    )
    assert await fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE account_id = $1", account) == 0
    # The account moved on to November, which stays open: its end plus the grace is after the clock.
    assert await fetchval(dsn, "SELECT next_cycle_start FROM accounts WHERE account_id = $1", account) == date(
        2026, 11, 1
    )
