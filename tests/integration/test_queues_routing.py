"""Routing on the real stack: calls and disputes published to Kafka become tasks in the expected queue with the
priority worked out by hand from the default rules; abandoned calls and closed accounts cancel them; the
workers' sweeper returns expired leases and widens tasks that waited too long; a replay makes no second task.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.contracts import envelope as ev
from billing.contracts import parse_event
from billing.contracts.accounts import AccountClosed, AccountOpened, ClosureReason, Contact
from billing.contracts.calls import CallAbandoned, CallChannel, CallReason, CallStarted
from billing.contracts.disputes import DisputeOpened, DisputeReason
from billing.contracts.invoices import InvoiceHeld, InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.entrypoints.cli.observe import read_topic
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.platform.topics import TASK_EVENTS, queue_topic
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


def _meta(prefix: str, at: datetime) -> dict[str, object]:
    return {"event_id": unique(prefix), "source": "test/queues", "occurred_at": at, "schema_version": 1}


def _opened(account: str, at: datetime) -> ev.AccountOpenedEvent:
    return ev.AccountOpenedEvent(
        **_meta("open", at),
        type="account.opened.v1",
        payload=AccountOpened(
            account_id=account,
            plan_id="mobile-s",
            billing_anchor_day=1,
            currency="EUR",
            jurisdiction="DE",
            contact=Contact(name="Queue Tester", email="q@example.com"),
            opened_at=at,
        ),
    )


def _invoice(account: str, invoice_id: str, total: int, at: datetime) -> ev.InvoiceIssuedEvent:
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=total)
    return ev.InvoiceIssuedEvent(
        **_meta("iss", at),
        type="invoice.issued.v1",
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=invoice_id,
            invoice_number=unique("N")[:32],
            period_start=date(2025, 1, 1),
            period_end=date(2025, 2, 1),
            issued_at=at,
            due_date=date(2025, 2, 15),
            currency="EUR",
            lines=(line,),
            subtotal_minor=total,
            discount_minor=0,
            tax_minor=0,
            total_minor=total,
        ),
    )


def _call(
    account: str,
    call_id: str,
    at: datetime,
    invoice_id: str | None = None,
    reason: CallReason = CallReason.BILL_QUESTION,
) -> ev.CallStartedEvent:
    return ev.CallStartedEvent(
        **_meta("cst", at),
        type="call.started.v1",
        payload=CallStarted(
            account_id=account, call_id=call_id, reason=reason, channel=CallChannel.PHONE, invoice_id=invoice_id
        ),
    )


async def _task_of(dsn: str, kind: str, ref: str) -> asyncpg.Record:
    task_id = make_task_id(kind, ref)
    rows = await eventually(lambda: fetch(dsn, "SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    return rows[0]


async def _events(dsn: str, task_id: str) -> list:
    rows = await fetch(
        dsn,
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2 ORDER BY id",
        TASK_EVENTS.name,
        f"%{task_id}%",
    )
    return [parse_event(bytes(r["value"])) for r in rows]


async def test_a_call_becomes_a_task_with_the_hand_computed_priority(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, invoice = unique("acc"), unique("inv")
    earlier, current = unique("call"), unique("call")
    await publish(
        bootstrap,
        [
            record_of(e)
            for e in (
                _opened(account, now - timedelta(days=400)),
                _invoice(account, invoice, 6_000, now - timedelta(days=30)),
                _invoice(account, unique("inv"), 7_001, now - timedelta(days=60)),
            )
        ],
    )
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM invoices_issued WHERE account_id = $1", account), lambda n: n == 2
    )
    await publish(bootstrap, [record_of(_call(account, earlier, now - timedelta(days=1), invoice))])
    first = await _task_of(dsn, "call", earlier)
    await publish(bootstrap, [record_of(_call(account, current, now, invoice))])
    task = await _task_of(dsn, "call", current)

    # Average invoice (6,000 + 7,001) / 2 = 6,500.5 -> 6,501 (half up): band 5,000 -> 5 points. Tenure 400 days:
    # band 365 -> 3. No open dispute, no cancellation intent. Rule "default": billing, base 10.
    # The first call: 10 + 5 + 3 = 18. The second has one earlier call about the same invoice: + 8 = 26.
    assert (first["queue"], first["rule"], first["static_priority"]) == ("billing", "default", 18)
    assert (task["queue"], task["rule"], task["static_priority"], task["tier"]) == ("billing", "default", 26, 1)
    assert (task["state"], task["eligible_queues"], task["currency"]) == ("queued", ["billing"], "EUR")
    (routed,) = await _events(dsn, task["task_id"])
    assert (routed.type, routed.payload.priority, routed.payload.call_id) == ("task.routed.v1", 26, current)

    async def on_queue_topic() -> list[dict]:
        return await read_topic(bootstrap, queue_topic("billing").name, at_least=10**6, timeout_s=2)

    records = await eventually(on_queue_topic, lambda rs: any(r["event_id"] == routed.event_id for r in rs))
    assert [r["payload"]["priority"] for r in records if r["event_id"] == routed.event_id] == [26]

    # The third call about the same invoice (two before it) goes to the supervisors: rule "third_call_same_bill",
    # base 60 + 5 + 3 + 2 earlier calls * 8 = 84.
    third = unique("call")
    await publish(bootstrap, [record_of(_call(account, third, now + timedelta(seconds=1), invoice))])
    escalated = await _task_of(dsn, "call", third)
    assert (escalated["queue"], escalated["rule"], escalated["static_priority"]) == (
        "supervisors",
        "third_call_same_bill",
        84,
    )


async def test_a_dispute_goes_to_disputes_with_its_amount(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, dispute = unique("acc"), unique("dsp")
    opened = ev.DisputeOpenedEvent(
        **_meta("dop", now),
        type="dispute.opened.v1",
        payload=DisputeOpened(
            account_id=account,
            dispute_id=dispute,
            invoice_id=unique("inv"),
            amount=Money(amount_minor=2_500, currency="EUR"),
            reason=DisputeReason.ROAMING,
        ),
    )
    await publish(bootstrap, [record_of(_opened(account, now - timedelta(days=10))), record_of(opened)])
    task = await _task_of(dsn, "dispute", dispute)
    # Rule "dispute": disputes, base 30; disputed amount 2,500: band 2,000 -> 4; no invoice, 10 days: 0. = 34.
    assert (task["queue"], task["rule"], task["static_priority"], task["disputed_amount_minor"]) == (
        "disputes",
        "dispute",
        34,
        2_500,
    )
    (routed,) = await _events(dsn, task["task_id"])
    assert routed.payload.disputed_amount == Money(amount_minor=2_500, currency="EUR")


async def test_a_held_invoice_becomes_supervisor_work(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, invoice = unique("acc"), unique("inv")
    await publish(bootstrap, [record_of(_opened(account, now - timedelta(days=3)))])
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
        **_meta("ihe", now),
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
    task = await _task_of(dsn, "held_invoice", invoice)
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
        **_meta("cab", now + timedelta(seconds=95)),
        type="call.abandoned.v1",
        payload=CallAbandoned(account_id=account, call_id=call),
    )
    await publish(bootstrap, [record_of(e) for e in (_opened(account, now), _call(account, call, now), abandoned)])
    task = await eventually(lambda: _task_of(dsn, "call", call), lambda t: t["state"] == "cancelled")
    assert (task["cancel_cause"], task["holder_agent_id"]) == ("caller_abandoned", None)
    _routed, cancelled = await _events(dsn, task["task_id"])
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
        **_meta("acl", now + timedelta(seconds=5)),
        type="account.closed.v1",
        payload=AccountClosed(account_id=account, closed_at=now + timedelta(seconds=5), reason=ClosureReason.VOLUNTARY),
    )
    await publish(
        bootstrap, [record_of(_opened(account, now - timedelta(days=3))), record_of(_call(account, call, now))]
    )
    await _task_of(dsn, "call", call)
    await publish(bootstrap, [record_of(closed)])
    task = await eventually(lambda: _task_of(dsn, "call", call), lambda t: t["state"] == "cancelled")
    assert task["cancel_cause"] == "account_closed"


async def test_a_replayed_call_makes_no_second_task(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    started = _call(account, call, now)
    again_other_id = started.model_copy(update={"event_id": unique("cst")})
    await publish(bootstrap, [record_of(e) for e in (_opened(account, now), started, started, again_other_id)])
    await eventually(
        lambda: fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()),
        lambda n: n == 1,
    )
    assert await fetchval(dsn, "SELECT count(*) FROM tasks WHERE account_id = $1", account) == 1
    assert len(await _events(dsn, make_task_id("call", call))) == 1


async def test_the_sweeper_widens_a_task_that_waited_ten_minutes(live) -> None:
    dsn, bootstrap, now = live.require_database_url(), live.require_bootstrap(), datetime.now(UTC)
    account, call = unique("acc"), unique("call")
    await publish(
        bootstrap,
        [
            record_of(_opened(account, now - timedelta(days=3))),
            record_of(_call(account, call, now - timedelta(minutes=10))),
        ],
    )
    task = await eventually(lambda: _task_of(dsn, "call", call), lambda t: len(t["eligible_queues"]) == 3)
    # Default widening of billing: tier2 after 120 s, supervisors after 300 s. Aging: 600 s // 15 = 40 = the cap,
    # so 10 (default rule, no other points) + 40 = 50; widened into a senior pool, it is tier-2 work.
    assert (task["eligible_queues"], task["priority"], task["tier"]) == (["billing", "tier2", "supervisors"], 50, 2)
    widened = [e.payload.new_queue for e in await _events(dsn, task["task_id"]) if e.type == "task.requeued.v1"]
    assert widened == ["tier2", "supervisors"]


async def test_the_sweeper_returns_an_expired_lease(live) -> None:
    dsn = live.require_database_url()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        queue, ref, now = unique("q"), unique("call"), datetime.now(UTC)
        await _insert(
            pool,
            NewTask(
                task_id=make_task_id("call", ref),
                kind="call",
                source_event_id=unique("evt"),
                account_id=unique("acc"),
                reason="other",
                rule="default",
                queue=queue,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=now,
                call_id=ref,
                currency="EUR",
            ),
        )
        claimed = await store.claim_next(pool, "agent-lease", [queue], 1, datetime.now(UTC))
        assert claimed.state == "reserved"
        back = await eventually(lambda: store.get_task(pool, claimed.task_id), lambda t: t.state == "queued")
        assert (back.holder_agent_id, back.offers_expired, back.attempts) == (None, 1, 1)
        requeued = [e for e in await _events(dsn, claimed.task_id) if e.type == "task.requeued.v1"]
        assert [(e.payload.cause, e.event_id) for e in requeued] == [
            ("lease_expired", f"{claimed.task_id}:lease_expired:1")
        ]
        again = await store.claim_next(pool, "agent-next", [queue], 30, datetime.now(UTC))
        assert (again.task_id, again.attempts) == (claimed.task_id, 2)
    finally:
        await pool.close()


async def _insert(pool: asyncpg.Pool, new: NewTask) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await insert_task(conn, new)
