"""Collections on the real broker and PostgreSQL, hand-computed to the minor unit (issue 13): the ledger and
payments, refunds, chargebacks and their dead letters, the statement on the command line. Dunning, suspension and
promises to pay are in test_collections_dunning.py; events and waits in collections_helpers.py.
"""

from __future__ import annotations

import asyncio

import pytest

from billing.entrypoints.stack.loadgen import Record, publish, record_of
from billing.platform.topics import PAYMENTS
from tests.integration.collections_helpers import _open, _send, _standing, charged_back, invoice, on, paid, refunded
from tests.integration.helpers import eventually, fetch

pytestmark = pytest.mark.integration
# test_collections_feeds.py takes these from here.
__all__ = ["_send", "invoice", "on", "paid"]


@pytest.fixture(scope="module")
def world(dated_stack):
    return dated_stack.settings


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
