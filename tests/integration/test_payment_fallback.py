"""When a payment batch cannot be applied as a whole, the payments consumer settles it record by record
(src/billing/collections/payment_consumer.py): here because another transaction claims one of the batch's event ids
after the batch has read the claims and before it writes its own (two workers on one partition during a
rebalance). The claim is held open until the batch is waiting on it, so the race happens on every run.
The batch is rolled back and its records applied one by one: the record the other transaction took counts as a
duplicate, the others are applied once, and the balance is what the payments say.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from billing.collections.payment_consumer import PaymentConsumer
from billing.collections.rules.dunning import DEFAULT_POLICY, parse_policy
from billing.contracts import dump_event
from billing.platform.context import WorkerContext
from billing.platform.decoding import RawMessage
from billing.platform.topics import PAYMENTS
from tests.integration.collections_helpers import _open, _send, _standing, invoice, on, paid
from tests.integration.helpers import eventually, fetch, fetchval

pytestmark = pytest.mark.integration

_WAITING_ON_CLAIMS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO processed_events%'"


async def test_a_batch_that_loses_a_key_race_is_settled_record_by_record(dated_stack) -> None:
    world = dated_stack.settings
    dsn = world.require_database_url()
    account = await _open(world)
    await _send(world, account, [invoice(account, f"{account}-m3", 3)], 1)  # 10,000 due 03-15
    payments = [
        paid(account, f"{account}-p{n}", amount, on(3, 10 + n)) for n, amount in ((1, 3_000), (2, 4_000), (3, 2_000))
    ]
    # Offsets far beyond what the stack's own consumer has read of partition 0: these records exist only here.
    messages = [
        RawMessage(PAYMENTS.name, 0, 10**12 + n, account.encode(), dump_event(event))
        for n, event in enumerate(payments)
    ]
    ctx = WorkerContext(world)
    consumer = PaymentConsumer(ctx, parse_policy(DEFAULT_POLICY))
    other = await asyncpg.connect(dsn)
    try:
        held = other.transaction()
        await held.start()
        await other.execute(
            'INSERT INTO processed_events (event_id, event_type, source_topic, partition, "offset")'
            " VALUES ($1, 'payment.received.v1', 'elsewhere', 0, 0)",
            payments[1].event_id,
        )
        batch = asyncio.create_task(consumer.handle(messages))
        await eventually(lambda: fetchval(dsn, _WAITING_ON_CLAIMS), lambda n: n == 1)
        await held.commit()
        await asyncio.wait_for(batch, 60)
    finally:
        await other.close()
        await ctx.close()
    stored = await fetch(dsn, "SELECT payment_id FROM payments WHERE account_id = $1 ORDER BY 1", account)
    assert [r["payment_id"] for r in stored] == [f"{account}-p1", f"{account}-p3"]
    # 10,000 - 3,000 - 2,000 = 5,000 open on the invoice; the payment the other transaction claimed is not ours.
    assert await _standing(world, account) == (5_000, 0, [(f"{account}-m3", 5_000, 5_000)])
    assert ctx.metrics.events_duplicate.labels(PAYMENTS.name)._value.get() == 1
    claims = await fetch(
        dsn, "SELECT event_id, source_topic FROM processed_events WHERE event_id = ANY($1::text[]) ORDER BY 1",
        [e.event_id for e in payments],
    )  # fmt: skip
    assert sorted((r["event_id"], r["source_topic"]) for r in claims) == sorted(
        [
            (payments[0].event_id, PAYMENTS.name),
            (payments[1].event_id, "elsewhere"),
            (payments[2].event_id, PAYMENTS.name),
        ]
    )
