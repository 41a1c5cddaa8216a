"""Dunning on the real broker and PostgreSQL (issue 13): the steps to suspension once with two runners, the
payment that restores the account, a promise to pay that pauses the steps. Dunning is run here with fixed
event-time instants (the stack's own loop is off with the closer, CLOSER_ENABLED=false).
"""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import run_dunning
from tests.integration.collections_helpers import _open, _send, invoice, on, paid
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(dated_stack):
    return dated_stack.settings


async def test_dunning_to_suspension_once_and_a_payment_restores(world) -> None:
    account = await _open(world)
    inv = f"{account}-m3"
    await _send(world, account, [invoice(account, inv, 3)], 1)
    dsn = world.require_database_url()
    policy = load_policy(world)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    try:
        # Due 03-15, grace 3: the 18th is the last day to pay, nothing happens then; the 19th is day 1.
        assert (await run_dunning(pool, policy, on(3, 18), accounts=[account])).steps == []
        first = await run_dunning(pool, policy, on(3, 19), accounts=[account])
        assert [s[2] for s in first.steps] == ["reminder"]
        # Day 21 (04-08), two runners at once: second notice, the call and the suspension, each once.
        both = await asyncio.gather(*(run_dunning(pool, policy, on(4, 8), accounts=[account]) for _ in range(2)))
        assert sorted(s[2] for r in both for s in r.steps) == ["collections_call", "second_notice", "suspend"]
        assert (await run_dunning(pool, policy, on(4, 8), accounts=[account])).steps == []
    finally:
        await pool.close()
    steps = await fetch(dsn, "SELECT step, at FROM dunning_steps WHERE invoice_id = $1 ORDER BY at, step", inv)
    assert [r["step"] for r in steps] == ["reminder", "collections_call", "second_notice", "suspend"]
    notices = await fetch(
        dsn,
        "SELECT body FROM notifications WHERE account_id = $1 AND kind = 'dunning' ORDER BY notification_id",
        account,
    )
    assert [r["body"][:40] for r in notices] == [
        f"Invoice UP-{inv}: 100.00 EUR is 1 day(s)"[:40],
        f"Invoice UP-{inv}: 100.00 EUR is still unpaid"[:40],
    ]
    tasks = await fetch(dsn, "SELECT kind, queue, state FROM tasks WHERE account_id = $1", account)
    assert [tuple(t) for t in tasks] == [("collections", "collections", "queued")]
    suspended = await fetchval(
        dsn, "SELECT count(*) FROM outbox WHERE key = $1 AND value LIKE '%account.suspended.v1%'", account.encode()
    )
    assert suspended == 1
    # The customer pays the 10,000: nothing is overdue, the account is restored.
    await _send(world, account, [paid(account, f"{account}-p1", 10_000, on(4, 10))], 2)
    await eventually(
        lambda: fetchval(
            dsn, "SELECT count(*) FROM outbox WHERE key = $1 AND value LIKE '%account.restored.v1%'", account.encode()
        ),
        lambda n: n == 1,
    )
    assert await fetchval(dsn, "SELECT suspended_at FROM account_collections WHERE account_id = $1", account) is None


async def test_a_promise_to_pay_pauses_dunning_until_its_date(world) -> None:
    account = await _open(world)
    await _send(world, account, [invoice(account, f"{account}-m3", 3)], 1)
    dsn = world.require_database_url()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO payment_promises (promise_id, account_id, amount_minor, currency, promised_for, made_at,"
            " made_by) VALUES ($1, $2, 10000, 'EUR', $3, $4, 'agent-ann')",
            unique("ptp"),
            account,
            date(2027, 3, 25),
            on(3, 17),
        )
    finally:
        await conn.close()
    policy = load_policy(world)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        paused = await run_dunning(pool, policy, on(3, 25), accounts=[account])
        assert (paused.steps, paused.paused) == ([], [account])
        # The 26th: the promise is broken; the reminder and the second notice (day 8) are both due.
        resumed = await run_dunning(pool, policy, on(3, 26), accounts=[account])
        assert [s[2] for s in resumed.steps] == ["reminder", "second_notice"]
    finally:
        await pool.close()


async def test_a_second_overdue_invoice_does_not_close_the_account_again(world) -> None:
    """Two invoices reach day 60 in two passes: one account.closed.v1, even before the account projection has
    read it (stood in for here by setting the account back to active once the projection has closed it)."""
    account = await _open(world)
    first, second = f"{account}-m3", f"{account}-m4"
    await _send(world, account, [invoice(account, first, 3), invoice(account, second, 4)], 2)
    dsn = world.require_database_url()
    policy = load_policy(world)
    closed = "SELECT count(*) FROM outbox WHERE key = $1 AND value LIKE '%account.closed.v1%'"
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        # Due 03-15 and 04-15, grace 3: 05-17 is the first invoice's day 60, 06-17 the second's.
        await run_dunning(pool, policy, on(5, 17), accounts=[account])
        assert await fetchval(dsn, closed, account.encode()) == 1
        await eventually(
            lambda: fetchval(dsn, "SELECT status FROM accounts WHERE account_id = $1", account), lambda s: s == "closed"
        )
        await pool.execute("UPDATE accounts SET status = 'active' WHERE account_id = $1", account)
        later = await run_dunning(pool, policy, on(6, 17), accounts=[account])
    finally:
        await pool.close()
    assert "close" in [s[2] for s in later.steps if s[1] == second], "the step is recorded as taken"
    assert await fetchval(dsn, closed, account.encode()) == 1
    calls = await fetchval(dsn, "SELECT count(*) FROM tasks WHERE account_id = $1 AND kind = 'collections'", account)
    assert calls == 1, "no collections call for an account already closed for non-payment"
