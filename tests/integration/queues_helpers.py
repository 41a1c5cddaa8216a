"""Events for the queue tests (an account opened, an invoice, a call) and reading back the task they made and the
task events it wrote; shared by tests/integration/test_queues_routing.py and test_queues_sweeper.py."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from billing.care.lifecycle import make_task_id
from billing.contracts import envelope as ev
from billing.contracts import parse_event
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.calls import CallChannel, CallReason, CallStarted
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.platform.topics import TASK_EVENTS
from tests.integration.helpers import eventually, fetch, unique


def event_meta(prefix: str, at: datetime) -> dict[str, object]:
    return {"event_id": unique(prefix), "source": "test/queues", "occurred_at": at, "schema_version": 1}


def account_opened(account: str, at: datetime) -> ev.AccountOpenedEvent:
    return ev.AccountOpenedEvent(
        **event_meta("open", at),
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


def invoice_issued(account: str, invoice_id: str, total: int, at: datetime) -> ev.InvoiceIssuedEvent:
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=total)
    return ev.InvoiceIssuedEvent(
        **event_meta("iss", at),
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


def call_started(
    account: str,
    call_id: str,
    at: datetime,
    invoice_id: str | None = None,
    reason: CallReason = CallReason.BILL_QUESTION,
) -> ev.CallStartedEvent:
    return ev.CallStartedEvent(
        **event_meta("cst", at),
        type="call.started.v1",
        payload=CallStarted(
            account_id=account, call_id=call_id, reason=reason, channel=CallChannel.PHONE, invoice_id=invoice_id
        ),
    )


async def task_of(dsn: str, kind: str, ref: str) -> asyncpg.Record:
    task_id = make_task_id(kind, ref)
    rows = await eventually(lambda: fetch(dsn, "SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    return rows[0]


async def outbox_task_events(dsn: str, task_id: str) -> list:
    rows = await fetch(
        dsn,
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2 ORDER BY id",
        TASK_EVENTS.name,
        f"%{task_id}%",
    )
    return [parse_event(bytes(r["value"])) for r in rows]
