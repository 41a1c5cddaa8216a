"""Routing on the real stack: calls and disputes published to Kafka become tasks in the expected queue with the
priority worked out by hand from the default rules; abandoned calls and closed accounts cancel them; a replay
makes no second task. The sweeper's part: tests/integration/test_queues_sweeper.py.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from billing.care.lifecycle import make_task_id
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountClosed, ClosureReason
from billing.contracts.calls import CallAbandoned
from billing.contracts.disputes import DisputeOpened, DisputeReason
from billing.contracts.invoices import InvoiceHeld
from billing.contracts.money import Money
from billing.entrypoints.cli.observe import read_topic
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.topics import queue_topic
from tests.integration.helpers import eventually, fetchval, unique
from tests.integration.queues_helpers import (
    account_opened,
    call_started,
    event_meta,
    invoice_issued,
    outbox_task_events,
    task_of,
)

pytestmark = pytest.mark.integration


async def test_a_call_becomes_a_task_with_the_hand_computed_priority(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, invoice = unique("acc"), unique("inv")
    earlier, current = unique("call"), unique("call")
    await publish(
        bootstrap,
        [
            record_of(e)
            for e in (
                account_opened(account, now - timedelta(days=400)),
                invoice_issued(account, invoice, 6_000, now - timedelta(days=30)),
                invoice_issued(account, unique("inv"), 7_001, now - timedelta(days=60)),
            )
        ],
    )
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE account_id = $1", account), lambda n: n == 2
    )
    await publish(bootstrap, [record_of(call_started(account, earlier, now - timedelta(days=1), invoice))])
    first = await task_of(dsn, "call", earlier)
    await publish(bootstrap, [record_of(call_started(account, current, now, invoice))])
    task = await task_of(dsn, "call", current)

    # Average invoice (6,000 + 7,001) / 2 = 6,500.5 -> 6,501 (half up): band 5,000 -> 5 points. Tenure 400 days:
    # band 365 -> 3. No open dispute, no cancellation intent. Rule "default": billing, base 10.
    # The first call: 10 + 5 + 3 = 18. The second has one earlier call about the same invoice: + 8 = 26.
    assert (first["queue"], first["rule"], first["static_priority"]) == ("billing", "default", 18)
    assert (task["queue"], task["rule"], task["static_priority"], task["tier"]) == ("billing", "default", 26, 1)
    assert (task["state"], task["eligible_queues"], task["currency"]) == ("queued", ["billing"], "EUR")
    (routed,) = await outbox_task_events(dsn, task["task_id"])
    assert (routed.type, routed.payload.priority, routed.payload.call_id) == ("task.routed.v1", 26, current)

    async def on_queue_topic() -> list[dict]:
        return await read_topic(bootstrap, queue_topic("billing").name, at_least=10**6, timeout_s=2)

    records = await eventually(on_queue_topic, lambda rs: any(r["event_id"] == routed.event_id for r in rs))
    assert [r["payload"]["priority"] for r in records if r["event_id"] == routed.event_id] == [26]

    # The third call about the same invoice (two before it) goes to the supervisors: rule "third_call_same_bill",
    # base 60 + 5 + 3 + 2 earlier calls * 8 = 84.
    third = unique("call")
    await publish(bootstrap, [record_of(call_started(account, third, now + timedelta(seconds=1), invoice))])
    escalated = await task_of(dsn, "call", third)
    assert (escalated["queue"], escalated["rule"], escalated["static_priority"]) == (
        "supervisors",
        "third_call_same_bill",
        84,
    )


async def test_a_dispute_goes_to_disputes_with_its_amount(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, dispute = unique("acc"), unique("dsp")
    opened = ev.DisputeOpenedEvent(
        **event_meta("dop", now),
        type="dispute.opened.v1",
        payload=DisputeOpened(
            account_id=account,
            dispute_id=dispute,
            invoice_id=unique("inv"),
            amount=Money(amount_minor=2_500, currency="EUR"),
            reason=DisputeReason.ROAMING,
        ),
    )
    await publish(bootstrap, [record_of(account_opened(account, now - timedelta(days=10))), record_of(opened)])
    task = await task_of(dsn, "dispute", dispute)
    # Rule "dispute": disputes, base 30; disputed amount 2,500: band 2,000 -> 4; no invoice, 10 days: 0. = 34.
    assert (task["queue"], task["rule"], task["static_priority"], task["disputed_amount_minor"]) == (
        "disputes",
        "dispute",
        34,
        2_500,
    )
    (routed,) = await outbox_task_events(dsn, task["task_id"])
    assert routed.payload.disputed_amount == Money(amount_minor=2_500, currency="EUR")


async def test_a_held_invoice_becomes_supervisor_work(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, invoice = unique("acc"), unique("inv")
    await publish(bootstrap, [record_of(account_opened(account, now - timedelta(days=3)))])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
    )
    # The closer stores a held invoice and announces it; here the row is written as the closer would.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO invoices (invoice_id, account_id, period_start, period_end, status, currency, subtotal_minor,"
            " discount_minor, tax_minor, total_minor, lines, hold_reason) VALUES ($1, $2, $3, $4, 'held', 'EUR',"
            " 90000, 0, 0, 90000, '[]'::jsonb, 'outlier')",
            invoice,
            account,
            date(2026, 10, 1),
            date(2026, 11, 1),
        )
    finally:
        await conn.close()
    held = ev.InvoiceHeldEvent(
        **event_meta("ihe", now),
        type="invoice.held.v1",
        payload=InvoiceHeld(
            account_id=account,
            invoice_id=invoice,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 11, 1),
            held_at=now,
            currency="EUR",
            total_minor=90_000,
            recent_totals_minor=(3_000, 3_100),
            reason="total 90000 is over 5 times the median 3050",
        ),
    )
    await publish(bootstrap, [record_of(held)])
    task = await task_of(dsn, "held_invoice", invoice)
    # Route "held_invoice": supervisors, base 20; no issued invoice, 3 days of tenure: no other points. = 20.
    assert (task["kind"], task["queue"], task["tier"], task["static_priority"]) == (
        "held_invoice",
        "supervisors",
        2,
        20,
    )
    assert task["invoice_id"] == invoice


def _cancelled_count(live) -> float:
    total = 0.0
    for port in (live.worker_web_port, live.worker_web_port + 1):
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        total += sum(
            float(v)
            for v in re.findall(
                r'^billing_tasks_cancelled_total\{[^}]*cause="caller_abandoned"[^}]*\} (\S+)$', text, re.M
            )
        )
    return total


async def test_an_abandoned_call_cancels_its_task_and_is_counted(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    before = await asyncio.to_thread(_cancelled_count, live)
    abandoned = ev.CallAbandonedEvent(
        **event_meta("cab", now + timedelta(seconds=95)),
        type="call.abandoned.v1",
        payload=CallAbandoned(account_id=account, call_id=call),
    )
    await publish(
        bootstrap, [record_of(e) for e in (account_opened(account, now), call_started(account, call, now), abandoned)]
    )
    task = await eventually(lambda: task_of(dsn, "call", call), lambda t: t["state"] == "cancelled")
    assert (task["cancel_cause"], task["holder_agent_id"]) == ("caller_abandoned", None)
    _routed, cancelled = await outbox_task_events(dsn, task["task_id"])
    # Waited from the start of the call to the hang-up: 95 s.
    assert (cancelled.type, cancelled.payload.cause, cancelled.payload.waited_ms) == (
        "task.cancelled.v1",
        "caller_abandoned",
        95_000,
    )
    after = await asyncio.to_thread(_cancelled_count, live)
    assert after >= before + 1


async def test_closing_the_account_cancels_its_open_tasks(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    closed = ev.AccountClosedEvent(
        **event_meta("acl", now + timedelta(seconds=5)),
        type="account.closed.v1",
        payload=AccountClosed(account_id=account, closed_at=now + timedelta(seconds=5), reason=ClosureReason.VOLUNTARY),
    )
    await publish(
        bootstrap,
        [record_of(account_opened(account, now - timedelta(days=3))), record_of(call_started(account, call, now))],
    )
    await task_of(dsn, "call", call)
    await publish(bootstrap, [record_of(closed)])
    task = await eventually(lambda: task_of(dsn, "call", call), lambda t: t["state"] == "cancelled")
    assert task["cancel_cause"] == "account_closed"


async def test_a_replayed_call_makes_no_second_task(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    started = call_started(account, call, now)
    again_other_id = started.model_copy(update={"event_id": unique("cst")})
    await publish(bootstrap, [record_of(e) for e in (account_opened(account, now), started, started, again_other_id)])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()),
        lambda n: n == 1,
    )
    assert await fetchval(dsn, "SELECT count(*) FROM tasks WHERE account_id = $1", account) == 1
    assert len(await outbox_task_events(dsn, make_task_id("call", call))) == 1
