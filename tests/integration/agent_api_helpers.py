"""What the agent API tests share: a customer's opening events, a task reserved by a new agent, delivered codes.
The API fixtures themselves (agent_api, agent_api_over_http) are in conftest.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.calls import CallChannel, CallReason, CallStarted
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity import verification
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.lockout import LockoutPolicy
from billing.identity.rules.roles import Role
from tests.integration.helpers import eventually, recent_period, unique

PIN = "4821"
CARD = "4111 1111 1111 1111"


def meta(event_id: str, source: str, at: datetime) -> dict:
    return {"event_id": event_id, "source": source, "occurred_at": at, "schema_version": 1}


def customer(account: str, invoice_id: str, now: datetime) -> list:
    opened = now - timedelta(minutes=10)
    period = recent_period(opened)
    lines = (
        InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="Plan fee", amount_minor=4200),
        InvoiceLine(line_id="roam", kind=InvoiceLineKind.USAGE, description=f"Roaming, card {CARD}", amount_minor=800),
        InvoiceLine(line_id="tax", kind=InvoiceLineKind.TAX, description="VAT 19%", amount_minor=950),
    )  # 19 % of 4,200 + 800 = 5,000 is 950; total 5,950
    return [
        ev.AccountOpenedEvent(
            **meta(unique("open"), "crm/onboarding", opened),
            type="account.opened.v1",
            payload=AccountOpened(
                account_id=account,
                plan_id="mobile-s",
                billing_anchor_day=min(now.day, 28),
                currency="EUR",
                jurisdiction="DE",
                opened_at=opened,
                contact=Contact(name="Erika Mustermann", email="erika@example.com", phone="+4915112345678"),
            ),
        ),
        ev.InvoiceIssuedEvent(
            **meta(unique("iss"), "billing/upstream", opened),
            type="invoice.issued.v1",
            payload=InvoiceIssued(
                account_id=account,
                invoice_id=invoice_id,
                invoice_number=f"UP-{invoice_id}",
                period_start=period[0],
                period_end=period[1],
                issued_at=opened,
                due_date=period[2],
                currency="EUR",
                lines=lines,
                subtotal_minor=5000,
                discount_minor=0,
                tax_minor=950,
                total_minor=5950,
            ),
        ),
        *(
            ev.UsageRecordedEvent(
                **meta(unique("sms"), "mediation/switch-1", opened + timedelta(minutes=i + 1)),
                type="usage.recorded.v1",
                payload=UsageRecorded(
                    account_id=account,
                    record_id=unique("cdr"),
                    service=ServiceKind.SMS,
                    quantity=1,
                    unit=UsageUnit.MESSAGE,
                    started_at=opened + timedelta(minutes=i + 1),
                ),
            )
            for i in range(2)
        ),
    ]


async def publish_customer(live, pool, account: str, events: list) -> None:
    """Publish a customer's events (``customer``'s, perhaps changed) and wait until its upstream invoice is stored."""
    await publish(live.require_bootstrap(), [record_of(e) for e in events])
    await eventually(lambda: pool.fetchval("SELECT count(*) FROM invoices_issued WHERE account_id = $1", account), bool)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def held_task(
    pool, account: str, *, call: bool = True, reason: str = "bill_question", verified: bool = False
) -> tuple[str, str, str]:
    """A task for `account` in a queue of its own, reserved by a new agent: (task id, call id, agent token); with
    `verified`, its caller gave the right PIN on the call, so money routes get past the verified-caller rule."""
    queue, call_id = unique("hardq"), unique("call")
    async with pool.acquire() as conn, conn.transaction():
        task = await insert_task(
            conn,
            NewTask(
                task_id=make_task_id("call", call_id),
                kind="call",
                source_event_id=unique("evt"),
                account_id=account,
                reason=reason,
                rule="default",
                queue=queue,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=datetime.now(UTC),
                call_id=call_id if call else None,
                currency="EUR",
            ),
        )
    agent, token = await create_agent(pool, unique("agent"), Role.AGENT)
    claimed = await store.claim_next(pool, agent.agent_id, [queue], 300, datetime.now(UTC))
    assert claimed is not None and claimed.task_id == task.task_id
    if verified:
        await set_account_pin(pool, account, "5307")
        attempt = verification.Attempt(call_id, account, agent.agent_id, verification.Method.PIN, "5307")
        assert (await verification.verify(pool, attempt, LockoutPolicy(), datetime.now(UTC))).result == "passed"
    return task.task_id, call_id, token


async def delivered(live, notification_id: int) -> dict:
    """The message as the development channel (NOTIFICATION_FILE, by default under STATE_DIR) received it."""
    outbox = live.notification_file or live.state_dir / "notifications.jsonl"

    async def find() -> dict | None:
        lines = outbox.read_text().splitlines() if outbox.exists() else []
        return next((m for m in map(json.loads, lines) if m["notification_id"] == notification_id), None)

    return await eventually(find, lambda message: message is not None)


async def queue_counts(live, queue: str) -> dict[str, int]:
    """All-time figures of one queue from a worker's JSON endpoint (every worker answers for the group)."""
    url = f"http://127.0.0.1:{live.worker_web_port}/queues/metrics"
    async with httpx.AsyncClient() as http:
        figures = (await http.get(url)).json()["queues"].get(queue, {})
    return {key: figures.get(key, 0) for key in ("entered", "answered", "completed")}


def call_started(account: str, call_id: str, invoice_id: str, at: datetime) -> ev.CallStartedEvent:
    return ev.CallStartedEvent(
        **meta(unique("cst"), "care/acd", at),
        type="call.started.v1",
        payload=CallStarted(
            account_id=account,
            call_id=call_id,
            reason=CallReason.BILL_QUESTION,
            channel=CallChannel.PHONE,
            invoice_id=invoice_id,
        ),
    )


async def claim_until(client, token: str, task_id: str) -> dict:
    """Claim until our task comes up; tasks other tests left in the shared queues are handed back after."""
    others, found = [], None
    for _ in range(300):
        task = (await client.post("/tasks/claim", headers=bearer(token))).json()["task"]
        assert task is not None, "the routed task is claimable"
        if task["task_id"] == task_id:
            found = task
            break
        others.append(task["task_id"])
    for other in others:
        assert (await client.post(f"/tasks/{other}/reject", headers=bearer(token))).status_code == 200
    assert found is not None
    return found
