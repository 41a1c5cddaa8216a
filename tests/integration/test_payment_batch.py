"""The batched payments path leaves exactly what the per-record projection leaves (real PostgreSQL).

Two accounts get the same invoices, the same suspension and the same payment events (ids differ only by the
account id in them): one account's events go through the per-record projection, one record per transaction, the
other's through `apply_lane` as one batch, then again (a replay). Balances, invoice standings, payments, ledger,
claims, dead letters (reason and position) and restoration events must be the same.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing.collections.payment_consumer import apply_lane
from billing.collections.projection import on_invoice_issued, payment_handlers
from billing.collections.rules.dunning import DEFAULT_POLICY, parse_policy
from billing.contracts import dump_event
from billing.contracts import envelope as ev
from billing.contracts.money import Money
from billing.contracts.payments import (
    PaymentChargedBack,
    PaymentFailed,
    PaymentMethod,
    PaymentReceived,
    PaymentRefunded,
)
from billing.platform.context import WorkerContext
from billing.platform.decoding import RawMessage
from billing.platform.records import Projection, RecordProcessor
from billing.platform.topics import PAYMENTS
from billing.platform.unit_of_work import unit_of_work
from tests.integration.collections_helpers import invoice
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration
T0 = datetime(2027, 4, 10, 12, tzinfo=UTC)


def _meta(event_id: str, n: int) -> dict[str, object]:
    return {"event_id": event_id, "source": "test/batch", "occurred_at": T0, "schema_version": 1}


def _paid(acc: str, n: int, payment: str, amount: int, currency: str = "EUR", account: str | None = None):
    return ev.PaymentReceivedEvent(
        **_meta(f"{acc}-e{n}", n),
        type="payment.received.v1",
        payload=PaymentReceived(
            account_id=account or acc, payment_id=f"{acc}-{payment}", amount=Money(amount_minor=amount,
            currency=currency), method=PaymentMethod.CARD, provider_reference=f"ref-{payment}",
            received_at=T0 + timedelta(minutes=n), invoice_id=f"{acc}-m3",
        ),
    )  # fmt: skip


def _refund(acc: str, n: int, refund: str, amount: int):
    return ev.PaymentRefundedEvent(
        **_meta(f"{acc}-e{n}", n),
        type="payment.refunded.v1",
        payload=PaymentRefunded(
            account_id=acc, refund_id=f"{acc}-{refund}", payment_id=f"{acc}-p1",
            amount=Money(amount_minor=amount, currency="EUR"), refunded_at=T0 + timedelta(minutes=n),
        ),
    )  # fmt: skip


def _scenario(acc: str) -> list:
    chargeback = ev.PaymentChargedBackEvent(
        **_meta(f"{acc}-e6", 6),
        type="payment.charged_back.v1",
        payload=PaymentChargedBack(
            account_id=acc, chargeback_id=f"{acc}-c1", payment_id=f"{acc}-p1",
            amount=Money(amount_minor=3_000, currency="EUR"), charged_back_at=T0 + timedelta(minutes=6),
        ),
    )  # fmt: skip
    failed = ev.PaymentFailedEvent(
        **_meta(f"{acc}-e9", 9),
        type="payment.failed.v1",
        payload=PaymentFailed(
            account_id=f"{acc}-fresh", payment_id=f"{acc}-f1", amount=Money(amount_minor=700, currency="EUR"),
            method=PaymentMethod.CARD, provider_reference="ref-f1", failed_at=T0, reason="card declined",
        ),
    )  # fmt: skip
    first = _paid(acc, 1, "p1", 4_000)
    return [
        first,
        _paid(acc, 2, "p1", 4_000).model_copy(update={"payload": first.payload}),  # the same payment, a new id
        _paid(acc, 3, "p1", 4_500),  # the same payment id with other content
        _refund(acc, 4, "r1", 1_000),
        _refund(acc, 5, "r2", 5_000),  # more than remains of the payment
        chargeback,
        _paid(acc, 7, "p2", 500, currency="USD"),
        _paid(acc, 8, "p9", 500, account=f"{acc}-nobody"),
        failed,
        _paid(acc, 10, "p3", 20_000),  # clears everything: the suspended account is restored
        _refund(acc, 11, "r1", 1_000),  # the same refund again
        _refund(acc, 12, "r1", 900),  # the same refund id with other content
        first,  # the same event again
    ]


def _messages(events: list, base: int) -> list[RawMessage]:
    return [
        RawMessage(PAYMENTS.name, 0, base + n, e.payload.account_id.encode(), dump_event(e))
        for n, e in enumerate(events)
    ]


async def _prepare(pool: asyncpg.Pool, acc: str) -> None:
    await pool.executemany(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', '{}', 'active', $2)",
        [(a, T0 - timedelta(days=400)) for a in (acc, f"{acc}-fresh")],
    )
    async with unit_of_work(pool) as conn:
        await on_invoice_issued(conn, invoice(acc, f"{acc}-m3", 3))
        await on_invoice_issued(conn, invoice(acc, f"{acc}-m4", 4))
        await conn.execute(
            "UPDATE account_collections SET suspended_at = $2, suspended_for = $3 WHERE account_id = $1",
            acc,
            T0 - timedelta(days=1),
            f"{acc}-m3",
        )


async def _state(pool: asyncpg.Pool, acc: str, base: int) -> list:
    queries = [
        ("SELECT account_id, balance_minor, open_minor, credit_minor, suspended_at IS NULL AS restored"
         " FROM account_collections WHERE account_id LIKE $1 || '%' ORDER BY 1"),
        ("SELECT invoice_id, invoice_number, credited_minor, paid_minor, open_minor FROM collection_invoices"
         " WHERE account_id = $1 ORDER BY 1"),
        ("SELECT payment_id, account_id, status, amount_minor, reversed_minor, reason, provider_reference"
         " FROM payments WHERE account_id LIKE $1 || '%' ORDER BY 1"),
        ("SELECT entry_id, kind, amount_minor, at, payment_id, document FROM ledger_entries"
         " WHERE account_id LIKE $1 || '%' ORDER BY 1"),
        "SELECT event_id, event_type FROM processed_events WHERE event_id LIKE $1 || '-e%' ORDER BY 1",
        "SELECT key, value FROM outbox WHERE key = convert_to($1, 'UTF8') AND value LIKE '%account.restored%' ORDER BY id",
    ]  # fmt: skip
    rows = [[tuple(r) for r in await pool.fetch(q, acc)] for q in queries]
    letters = await pool.fetch(
        'SELECT "offset" - $2, error_kind, reason FROM dead_letters WHERE source_topic = $1'
        ' AND "offset" BETWEEN $2 AND $2 + 99 ORDER BY 1',
        PAYMENTS.name,
        base,
    )
    rows.append([tuple(r) for r in letters])
    return [[tuple(_same(v, acc) for v in r) for r in table] for table in rows]


def _same(value: object, acc: str) -> object:
    """Values with the account id (and the ids made from it) written the same for both accounts."""
    if isinstance(value, bytes):
        value = value.decode()
    return value.replace(acc, "ACC") if isinstance(value, str) else value


async def test_a_batch_leaves_what_one_record_at_a_time_leaves(dated_stack) -> None:
    settings = dated_stack.settings
    policy = parse_policy(DEFAULT_POLICY)
    one, batched = unique("pb-one"), unique("pb-batch")
    base = random.randrange(10**12, 2 * 10**12, 1_000)
    ctx = WorkerContext(settings)
    pool = await ctx.pool()
    try:
        for acc in (one, batched):
            await _prepare(pool, acc)
        processor = RecordProcessor(Projection(PAYMENTS, payment_handlers(policy)), ctx)
        for message in _messages(_scenario(one), base):
            await processor.process(message)
        messages = _messages(_scenario(batched), base + 100)
        result = await apply_lane(pool, policy, messages)
        assert result is not None
        assert (len(result.applied), result.duplicates, len(result.dead), result.restored) == (7, 1, 5, 1)
        replayed = await apply_lane(pool, policy, messages)
        assert replayed is not None
        assert (len(replayed.applied), replayed.duplicates, len(replayed.dead)) == (0, 13, 0)
        expected, got = await _state(pool, one, base), await _state(pool, batched, base + 100)
    finally:
        await ctx.close()
    assert got == expected
    balances, invoices, payments, ledger, claims, restored, letters = got
    assert balances == [("ACC", 0, 0, 0, True)]  # no collections row for a failed payment alone
    assert [i[3:] for i in invoices] == [(10_000, 0), (10_000, 0)]
    assert len(payments) == 3 and len(ledger) == 6 and len(claims) == 7 and len(restored) == 1
    assert [(n, kind) for n, kind, _ in letters] == [(n, "rejected") for n in (2, 4, 6, 7, 11)]
