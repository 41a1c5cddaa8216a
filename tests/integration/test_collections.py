"""Collections on the real broker and PostgreSQL, hand-computed to the minor unit (issue 13).

Upstream invoices of 10,000 EUR minor units (due the 15th, grace 3 days: day 1 overdue is the 19th) and payments
are published on their topics; the workers project them into the ledger. Dunning is run here with fixed
event-time instants (the stack's own loop is off with the closer, CLOSER_ENABLED=false).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import asyncpg
import pytest

from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import run_dunning
from billing.contracts import envelope as ev
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.contracts.payments import PaymentChargedBack, PaymentMethod, PaymentReceived, PaymentRefunded
from billing.entrypoints.stack.loadgen import Population, Record, publish, record_of
from billing.platform.topics import PAYMENTS
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration
OPENED = datetime(2027, 2, 1, tzinfo=UTC)


def _meta(prefix: str, at: datetime) -> dict[str, object]:
    return {"event_id": unique(prefix), "source": "test/collections", "occurred_at": at, "schema_version": 1}


def invoice(account: str, invoice_id: str, month: int, total: int = 10_000) -> ev.InvoiceIssuedEvent:
    issued = datetime(2027, month, 1, 6, tzinfo=UTC)
    line = InvoiceLine(line_id="l1", kind=InvoiceLineKind.RECURRING, description="Plan", amount_minor=total)
    return ev.InvoiceIssuedEvent(
        **_meta("inv", issued),
        type="invoice.issued.v1",
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=invoice_id,
            invoice_number=f"UP-{invoice_id}"[:32],
            period_start=date(2027, month - 1, 1),
            period_end=date(2027, month, 1),
            issued_at=issued,
            due_date=date(2027, month, 15),
            currency="EUR",
            lines=(line,),
            subtotal_minor=total,
            discount_minor=0,
            tax_minor=0,
            total_minor=total,
        ),
    )


def paid(account: str, payment_id: str, amount: int, at: datetime, invoice_id=None, currency="EUR"):
    return ev.PaymentReceivedEvent(
        **_meta("pay", at),
        type="payment.received.v1",
        payload=PaymentReceived(
            account_id=account,
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency=currency),
            method=PaymentMethod.BANK_TRANSFER,
            provider_reference=f"ref-{payment_id}",
            received_at=at,
            invoice_id=invoice_id,
        ),
    )


def refunded(account: str, payment_id: str, amount: int, at: datetime) -> ev.PaymentRefundedEvent:
    return ev.PaymentRefundedEvent(
        **_meta("refund", at),
        type="payment.refunded.v1",
        payload=PaymentRefunded(
            account_id=account,
            refund_id=unique("re"),
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency="EUR"),
            refunded_at=at,
        ),
    )


def charged_back(account: str, payment_id: str, amount: int, at: datetime) -> ev.PaymentChargedBackEvent:
    return ev.PaymentChargedBackEvent(
        **_meta("cb", at),
        type="payment.charged_back.v1",
        payload=PaymentChargedBack(
            account_id=account,
            chargeback_id=unique("cb"),
            payment_id=payment_id,
            amount=Money(amount_minor=amount, currency="EUR"),
            charged_back_at=at,
        ),
    )


def on(month: int, day: int) -> datetime:
    return datetime(2027, month, day, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(dated_stack):
    return dated_stack.settings


async def _open(settings) -> str:
    population = Population.of(1, start=OPENED, prefix=unique("coll"))
    account = population.account_ids[0]
    await publish(settings.require_bootstrap(), [record_of(e) for e in population.openings()])
    await eventually(lambda: fetchval(settings.require_database_url(), _ACCOUNT, account), lambda n: n == 1)
    return account


_ACCOUNT = "SELECT count(*) FROM accounts WHERE account_id = $1"


async def _send(settings, account: str, events, entries: int) -> None:
    """Publish and wait until the account's ledger holds `entries` entries."""
    await publish(settings.require_bootstrap(), [record_of(e) for e in events])
    await eventually(
        lambda: fetchval(
            settings.require_database_url(), "SELECT count(*) FROM ledger_entries WHERE account_id = $1", account
        ),
        lambda n: n == entries,
    )


async def _standing(settings, account: str) -> tuple[int, int, list[tuple[str, int, int]]]:
    dsn = settings.require_database_url()
    row = (
        await fetch(dsn, "SELECT balance_minor, credit_minor FROM account_collections WHERE account_id = $1", account)
    )[0]
    invoices = await fetch(
        dsn,
        "SELECT invoice_id, paid_minor, open_minor FROM collection_invoices WHERE account_id = $1 ORDER BY due_date",
        account,
    )
    return row["balance_minor"], row["credit_minor"], [tuple(r) for r in invoices]


async def test_partial_payment_then_overpayment_carried_to_the_next_invoice(world) -> None:
    account = await _open(world)
    await _send(
        world, account, [invoice(account, f"{account}-m3", 3), paid(account, f"{account}-p1", 4_000, on(3, 5))], 2
    )
    assert await _standing(world, account) == (6_000, 0, [(f"{account}-m3", 4_000, 6_000)])
    # 7,000 more: 6,000 closes March, 1,000 is credit. The same payment again under a new event id changes nothing.
    second = paid(account, f"{account}-p2", 7_000, on(3, 10))
    again = paid(account, f"{account}-p2", 7_000, on(3, 10))
    await _send(world, account, [second, again], 3)
    assert await _standing(world, account) == (-1_000, 1_000, [(f"{account}-m3", 10_000, 0)])
    # April's 10,000 takes the 1,000 credit: 9,000 open.
    await _send(world, account, [invoice(account, f"{account}-m4", 4)], 4)
    balance, credit, invoices = await _standing(world, account)
    assert (balance, credit, invoices[1]) == (9_000, 0, (f"{account}-m4", 1_000, 9_000))


async def test_payment_before_the_invoice_is_credit(world) -> None:
    account = await _open(world)
    await _send(world, account, [paid(account, f"{account}-p0", 3_000, on(2, 20))], 1)
    assert await _standing(world, account) == (-3_000, 3_000, [])
    await _send(world, account, [invoice(account, f"{account}-m3", 3)], 2)
    assert await _standing(world, account) == (7_000, 0, [(f"{account}-m3", 3_000, 7_000)])


async def test_refund_chargeback_and_dead_letters(world) -> None:
    account = await _open(world)
    inv, pay = f"{account}-m3", f"{account}-p1"
    await _send(world, account, [invoice(account, inv, 3), paid(account, pay, 12_000, on(3, 5), invoice_id=inv)], 2)
    assert await _standing(world, account) == (-2_000, 2_000, [(inv, 10_000, 0)])
    await _send(world, account, [refunded(account, pay, 2_000, on(3, 6))], 3)
    assert await _standing(world, account) == (0, 0, [(inv, 10_000, 0)])
    # The bank takes 10,000 back: the invoice reopens in full.
    await _send(world, account, [charged_back(account, pay, 10_000, on(3, 20))], 4)
    assert await _standing(world, account) == (10_000, 0, [(inv, 0, 10_000)])
    dsn = world.require_database_url()
    bad = [
        refunded(account, pay, 1, on(3, 21)),  # nothing of the 12,000 remains
        paid(account, f"{account}-usd", 500, on(3, 21), currency="USD"),
        paid(f"{account}-nobody", f"{account}-ghost", 500, on(3, 21)),
    ]
    negative = paid(account, f"{account}-neg", 500, on(3, 21)).model_dump(mode="json")
    negative["payload"]["amount"]["amount_minor"] = -500
    import orjson

    raw = Record(PAYMENTS.name, account.encode(), orjson.dumps(negative))
    await publish(world.require_bootstrap(), [*(record_of(e) for e in bad), raw])
    reasons = await eventually(
        lambda: fetch(
            dsn,
            "SELECT error_kind, reason FROM dead_letters WHERE source_topic = $1 AND (original_key = $2 OR"
            " original_key = $3) ORDER BY id",
            PAYMENTS.name,
            account.encode(),
            f"{account}-nobody".encode(),
        ),
        lambda rows: len(rows) == 4,
    )
    text = " | ".join(r["reason"] for r in reasons)
    assert "larger than the payment: 1 asked, 0 of 12000 remains" in text
    assert "wrong currency" in text and "unknown account" in text and "greater than 0" in text
    assert await _standing(world, account) == (10_000, 0, [(inv, 0, 10_000)])


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


async def test_statement_and_show_on_the_command_line(world) -> None:
    from click.testing import CliRunner

    from billing.entrypoints.cli.main import main

    account = await _open(world)
    events = [invoice(account, f"{account}-m3", 3), paid(account, f"{account}-p1", 4_000, on(3, 5))]
    await _send(world, account, [*events, refunded(account, f"{account}-p1", 500, on(3, 6))], 3)
    env = {"DATABASE_URL": world.require_database_url()}
    runner = CliRunner()
    out = await asyncio.to_thread(
        runner.invoke, main, ["account", "statement", account, "--from", "2027-03-02", "--to", "2027-03-31"], env=env
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    # Opening 100.00 (the invoice of 03-01), -40.00 -> 60.00, +5.00 -> 65.00: the balance.
    assert "100.00 EUR" in lines[1]
    assert lines[2].split()[-4:] == ["-40.00", "EUR", "60.00", "EUR"]
    assert lines[3].split()[-4:] == ["5.00", "EUR", "65.00", "EUR"]
    assert lines[-1].split()[-2:] == ["65.00", "EUR"]
    shown = await asyncio.to_thread(runner.invoke, main, ["account", "show", account], env=env)
    assert "balance 65.00 EUR (credit 0.00 EUR)" in shown.output, shown.output
