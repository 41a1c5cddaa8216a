"""A worker killed with kill -9 in the middle of a payment batch: every payment still takes effect exactly once.

Its own stack (two workers, no closer). 30 accounts each get an upstream invoice of 10,000 EUR minor units; then
the ledger table is locked and 5 payments per account are published, so each worker's payment batches stop at
their ledger insert with their claims and payments written but not committed. Worker 0 is killed as soon as one
of its own connections is seen waiting there (its sockets matched against PostgreSQL's backends), the lock is
released and worker 0 restarted. Its batches were rolled back and their offsets never committed, so the records
are read again (by it or by worker 1 after a rebalance) and applied once: 150 payments, 150 ledger entries, 150
claims, no dead letter, and each balance is the invoice less that account's payments, worked out below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import psutil
import pytest

from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Population, publish, record_of
from tests.integration.collections_helpers import invoice, paid
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, fetch, fetchval

pytestmark = pytest.mark.integration

ACCOUNTS = 30
AMOUNTS = (1_000, 1_500, 2_000, 2_500, 3_000)  # 10,000 in all: each invoice is paid to the minor unit
_WAITING = (
    "SELECT client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    " AND query LIKE 'INSERT INTO ledger_entries%'"
)


@pytest.fixture(scope="module")
def drill_stack() -> Iterator[Launcher]:
    with own_stack("paykill", closer_enabled=False) as launcher:
        yield launcher


def _ports(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.laddr}


async def test_a_worker_killed_mid_payment_batch_loses_and_repeats_nothing(drill_stack: Launcher) -> None:
    live = drill_stack.settings
    dsn = live.require_database_url()
    start = datetime(2027, 2, 1, tzinfo=UTC)
    population = Population.of(ACCOUNTS, start=start, prefix="paykill")
    accounts = population.account_ids
    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM accounts"), lambda n: n == ACCOUNTS)
    await publish(live.require_bootstrap(), [record_of(invoice(a, f"{a}-m3", 3)) for a in accounts])
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM collection_invoices"), lambda n: n == ACCOUNTS)

    at = datetime(2027, 3, 10, 12, tzinfo=UTC)
    payments = [
        paid(a, f"{a}-p{n}", amount, at + timedelta(minutes=n)) for a in accounts for n, amount in enumerate(AMOUNTS)
    ]
    blocker = await asyncpg.connect(dsn)
    try:
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE ledger_entries IN EXCLUSIVE MODE")  # readers pass, inserts wait
        await publish(live.require_bootstrap(), [record_of(e) for e in payments])
        worker_0 = _ports(drill_stack.workers[0].pid)
        await eventually(
            lambda: fetch(dsn, _WAITING), lambda rows: any(r["client_port"] in worker_0 for r in rows), timeout_s=90
        )
        drill_stack.stop_worker(0, kill=True)
        assert await fetchval(dsn, "SELECT count(*) FROM payments") == 0, "a payment committed under the lock"
        await held.rollback()
    finally:
        await blocker.close()
    await asyncio.to_thread(drill_stack.restart_worker, 0)

    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM payments"), lambda n: n == len(payments), 90)
    await asyncio.sleep(2)  # more batches of both workers: nothing more may happen
    counts = await fetch(
        dsn,
        "SELECT (SELECT count(*) FROM payments) AS payments,"
        " (SELECT count(*) FROM ledger_entries WHERE kind = 'payment') AS entries,"
        " (SELECT count(*) FROM processed_events WHERE event_type = 'payment.received.v1') AS claims,"
        " (SELECT count(*) FROM dead_letters) AS dead",
    )
    assert tuple(counts[0]) == (150, 150, 150, 0)
    # Each account: 10,000 invoiced - (1,000 + 1,500 + 2,000 + 2,500 + 3,000) = 0, the invoice paid in full.
    standing = await fetch(dsn, "SELECT account_id, balance_minor, open_minor, credit_minor FROM account_collections")
    assert sorted(tuple(r) for r in standing) == [(a, 0, 0, 0) for a in sorted(accounts)]
    invoices = await fetch(dsn, "SELECT paid_minor, open_minor FROM collection_invoices")
    assert {tuple(r) for r in invoices} == {(10_000, 0)}
