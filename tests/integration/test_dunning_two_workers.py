"""Dunning by two real workers on their own event-time clock, worker 0 killed (kill -9) mid-sequence and
restarted: every dunning step of every invoice happens exactly once, its effect with it (issue 13).

Its own stack (the closer on, every 0.3 s, so the workers' dunning loop runs): 40 accounts each get an upstream
invoice of 10,000 EUR minor units due on D0 (grace 3); usage stamped D0 + 15 moves the clock to day 12 overdue
(reminder and second notice due), worker 0 is killed inside its dunning transaction (held there by a lock on
the notifications table, so the kill lands mid-sequence however fast the machine is), restarted, and usage stamped
D0 + 64 moves the clock past day 60 (the call, the suspension, the closure). D0 is in the past, so no cycle the
closer issues meanwhile reaches its own day 60.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest

from billing.contracts import envelope as ev
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.entrypoints.stack.launcher import Launcher
from billing.entrypoints.stack.loadgen import Population, publish, record_of
from tests.integration.conftest import own_stack
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration

ACCOUNTS = 40
# Both workers' dunning transactions waiting to write a notice (each has recorded its step and holds its account).
_WAITING_ON_NOTICES = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO notifications%'"
)
STEPS = ["reminder", "second_notice", "collections_call", "suspend", "close"]


@pytest.fixture(scope="module")
def dunning_stack() -> Iterator[Launcher]:
    with own_stack("dunning", closer_enabled=True, closer_interval_s=0.3) as launcher:
        yield launcher


def _meta(prefix: str, at: datetime) -> dict[str, object]:
    return {"event_id": unique(prefix), "source": "test/dunning", "occurred_at": at, "schema_version": 1}


def _invoice(account: str, due: date) -> ev.InvoiceIssuedEvent:
    issued = datetime.combine(due - timedelta(days=14), time(6), UTC)
    line = InvoiceLine(line_id="l1", kind=InvoiceLineKind.RECURRING, description="Plan", amount_minor=10_000)
    return ev.InvoiceIssuedEvent(
        **_meta("inv", issued),
        type="invoice.issued.v1",
        payload=InvoiceIssued(
            account_id=account, invoice_id=f"{account}-up", invoice_number=f"UP-{account}"[:32],
            period_start=due - timedelta(days=44), period_end=due - timedelta(days=14), issued_at=issued,
            due_date=due, currency="EUR", lines=(line,), subtotal_minor=10_000, discount_minor=0, tax_minor=0,
            total_minor=10_000,
        ),
    )  # fmt: skip


def _usage(account: str, at: datetime) -> ev.UsageRecordedEvent:
    return ev.UsageRecordedEvent(
        **_meta("sms", at),
        type="usage.recorded.v1",
        payload=UsageRecorded(
            account_id=account, record_id=unique("cdr"), service=ServiceKind.SMS, quantity=1,
            unit=UsageUnit.MESSAGE, started_at=at,
        ),
    )  # fmt: skip


async def test_every_dunning_step_once_with_a_worker_killed_mid_sequence(dunning_stack: Launcher) -> None:
    live = dunning_stack.settings
    dsn = live.require_database_url()
    d0 = datetime.now(UTC).date() - timedelta(days=120)
    population = Population.of(ACCOUNTS, start=datetime.combine(d0 - timedelta(days=5), time(), UTC))
    accounts = population.account_ids
    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM accounts"), lambda n: n == ACCOUNTS)
    await publish(live.require_bootstrap(), [record_of(_invoice(a, d0)) for a in accounts])
    ours = [f"{a}-up" for a in accounts]
    taken = "SELECT count(*) FROM dunning_steps WHERE invoice_id = ANY($1::text[])"
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM collection_invoices WHERE invoice_id = ANY($1::text[])", ours),
        lambda n: n == ACCOUNTS,
    )

    # Day 12 overdue: 80 steps to take. The notifications table is locked, so each worker's dunning transaction
    # stops inside its first notice, its step recorded but not committed; worker 0 is killed there, whatever the
    # machine's speed, then the lock goes and worker 0 comes back.
    at = datetime.combine(d0 + timedelta(days=15), time(12), UTC)
    blocker = await asyncpg.connect(dsn)
    try:
        held = blocker.transaction()
        await held.start()
        await blocker.execute("LOCK TABLE notifications IN EXCLUSIVE MODE")  # readers pass, inserts wait
        await publish(live.require_bootstrap(), [record_of(_usage(a, at)) for a in accounts])
        await eventually(lambda: fetchval(dsn, _WAITING_ON_NOTICES), lambda n: n == 2, timeout_s=90)
        dunning_stack.stop_worker(0, kill=True)
        assert await fetchval(dsn, taken, ours) == 0, "a notice was committed while the table was locked"
        await held.rollback()
    finally:
        await blocker.close()
    await asyncio.to_thread(dunning_stack.restart_worker, 0)
    await eventually(lambda: fetchval(dsn, taken, ours), lambda n: n == 2 * ACCOUNTS, timeout_s=90)

    # Day 61 overdue: the call, the suspension and the closure of every account.
    at = datetime.combine(d0 + timedelta(days=64), time(12), UTC)
    await publish(live.require_bootstrap(), [record_of(_usage(a, at)) for a in accounts])
    await eventually(lambda: fetchval(dsn, taken, ours), lambda n: n == len(STEPS) * ACCOUNTS, timeout_s=120)
    await asyncio.sleep(3)  # more passes of both workers: nothing more may happen

    steps = await fetch(
        dsn, "SELECT invoice_id, step FROM dunning_steps WHERE invoice_id = ANY($1::text[]) ORDER BY 1, 2", ours
    )
    assert sorted((r["invoice_id"], r["step"]) for r in steps) == sorted((i, s) for i in ours for s in STEPS)
    # Each effect once: two notices per account (every step of ours, and of any invoice the closer issued meanwhile,
    # is one notice row at most), one call, one suspension and one closure per account.
    notices = await fetch(
        dsn,
        "SELECT n.account_id, count(*) AS sent, (SELECT count(*) FROM dunning_steps d WHERE d.account_id = n.account_id"
        " AND d.action = 'notice') AS steps FROM notifications n WHERE n.kind = 'dunning' GROUP BY 1",
    )
    assert {r["account_id"] for r in notices} == set(accounts)
    assert all(r["sent"] == r["steps"] for r in notices), [tuple(r) for r in notices if r["sent"] != r["steps"]]
    ours_notices = await fetchval(
        dsn, "SELECT count(*) FROM notifications WHERE kind = 'dunning' AND body LIKE 'Invoice UP-%'"
    )
    assert ours_notices == 2 * ACCOUNTS
    calls = await fetch(dsn, "SELECT account_id, count(*) AS n FROM tasks WHERE kind = 'collections' GROUP BY 1")
    assert sorted((r["account_id"], r["n"]) for r in calls) == [(a, 1) for a in sorted(accounts)]
    for event_type in ("account.suspended.v1", "account.closed.v1"):
        per_account = await fetch(
            dsn,
            "SELECT convert_from(key, 'UTF8') AS account, count(*) AS n FROM outbox"
            " WHERE position($1::bytea in value) > 0 GROUP BY 1",
            event_type.encode(),
        )
        assert sorted((r["account"], r["n"]) for r in per_account) == [(a, 1) for a in sorted(accounts)], event_type
