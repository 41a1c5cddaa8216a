"""End to end through the real broker, workers and PostgreSQL: a call becomes a task in the expected queue with
the expected priority; an agent claims it through the API, fails verification (the account stays masked),
passes it (the account is shown, card numbers cut to 4 digits), opens a dispute on an invoice line (emitted
once through the outbox), completes the task; the audit log holds exactly those steps. Then the lockout: five
failures lock the account for every channel and agent until 30 minutes have passed; and one-time codes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.contracts import envelope as ev
from billing.contracts import parse_event
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.calls import CallChannel, CallReason, CallStarted
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.usage import ServiceKind, UsageRecorded, UsageUnit
from billing.entrypoints.api.app import create_app
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from billing.platform.context import create_pool
from billing.platform.topics import DISPUTES
from tests.integration.helpers import eventually, unique

pytestmark = pytest.mark.integration

PIN = "4821"
CARD = "4111 1111 1111 1111"


class Clock:
    """The API's clock, moved by the lockout test; starts at the real time so the stack's tasks line up."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
async def api(live):
    clock = Clock()
    app = create_app(live, clock)
    pool = await create_pool(live)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    yield {"client": client, "pool": pool, "clock": clock, "live": live}
    await client.aclose()
    await app.state.services.close()
    await pool.close()


def meta(event_id: str, source: str, at: datetime) -> dict:
    return {"event_id": event_id, "source": source, "occurred_at": at, "schema_version": 1}


def customer(account: str, invoice_id: str, now: datetime) -> list:
    opened = now - timedelta(minutes=10)
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
                period_start=date(2026, 10, 1),
                period_end=date(2026, 11, 1),
                issued_at=opened,
                due_date=date(2026, 11, 15),
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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


async def test_call_to_completed_task_through_the_api(api) -> None:
    client, pool, live = api["client"], api["pool"], api["live"]
    account, invoice_id, call_id = unique("acc"), unique("inv"), unique("call")
    now = datetime.now(UTC)
    await publish(live.require_bootstrap(), [record_of(e) for e in customer(account, invoice_id, now)])
    await eventually(
        lambda: pool.fetchval(
            "SELECT (SELECT count(*) FROM invoices_issued WHERE account_id = $1)"
            " + (SELECT coalesce(sum(events), 0) FROM cycle_usage WHERE account_id = $1)",
            account,
        ),
        lambda n: n == 3,
    )
    await set_account_pin(pool, account, PIN)
    await publish(live.require_bootstrap(), [record_of(call_started(account, call_id, invoice_id, now))])

    task_id = make_task_id("call", call_id)
    task = await eventually(lambda: pool.fetchrow("SELECT * FROM tasks WHERE task_id = $1", task_id), bool)
    # Rule "default" (a bill question, no dispute, average invoice 5,950 < 15,000): queue billing, base 10;
    # customer value band 5,000 -> +5; tenure 0 days -> 0; first call, nothing open -> 0. 10 + 5 = 15.
    assert (task["queue"], task["rule"], task["static_priority"], task["tier"]) == ("billing", "default", 15, 1)

    agent, token = await create_agent(pool, "Ana", Role.AGENT)
    claimed = await claim_until(client, token, task_id)
    assert (claimed["state"], claimed["holder_agent_id"], claimed["call_id"]) == ("reserved", agent.agent_id, call_id)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).json()["task"]["state"] == "accepted"

    masked = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert (masked["verified"], masked["name"], masked["contact"]["phone"]) == (False, "E*** M***", "***78")
    assert masked["invoices"] is None and "Erika" not in str(masked)

    failed = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": "0000"})
    assert failed.json()["verified"] is False and failed.json()["failures_left"] == 4
    still = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert still["verified"] is False and still["invoices"] is None

    passed = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"pin": PIN})
    assert passed.json()["verified"] is True
    shown = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    assert (shown["name"], shown["contact"]["email"]) == ("Erika Mustermann", "erika@example.com")
    (invoice,) = shown["invoices"]
    assert (invoice["invoice_id"], invoice["total_minor"]) == (invoice_id, 5950)
    lines = {line["line_id"]: line for line in invoice["lines"]}
    assert lines["roam"]["description"] == "Roaming, card **** **** **** 1111"
    assert shown["usage"]["services"] == {"sms": {"billable_units": 2, "events": 2}}
    assert CARD not in str(shown)

    dispute = {"invoice_id": invoice_id, "line_id": "roam", "reason": "roaming", "note": "never left Germany"}
    opened = await client.post(f"/tasks/{task_id}/disputes", headers=bearer(token), json=dispute)
    assert opened.status_code == 201 and opened.json()["amount_minor"] == 800  # the whole line by default
    again = await client.post(f"/tasks/{task_id}/disputes", headers=bearer(token), json=dispute)
    assert again.status_code == 200 and again.json() == {**opened.json(), "created": False}
    dispute_id = opened.json()["dispute_id"]
    emitted = await pool.fetch(
        "SELECT value FROM outbox WHERE topic = $1 AND convert_from(value, 'UTF8') LIKE $2",
        DISPUTES.name,
        f"%{dispute_id}%",
    )
    assert len(emitted) == 1 and parse_event(bytes(emitted[0]["value"])).payload.amount.amount_minor == 800
    await eventually(
        lambda: pool.fetchval("SELECT status FROM disputes WHERE dispute_id = $1", dispute_id),
        lambda status: status is not None,
    )

    assert (await client.post(f"/tasks/{task_id}/wrap-up", headers=bearer(token))).status_code == 200
    done = await client.post(
        f"/tasks/{task_id}/complete",
        headers=bearer(token),
        json={"outcome": "resolved", "practice": "explanation_only"},
    )
    assert (done.json()["task"]["state"], done.json()["task"]["outcome"]) == ("completed", "resolved")
    after = await client.get(f"/tasks/{task_id}/account", headers=bearer(token))
    assert (after.status_code, after.json()["error"]) == (409, "conflict")  # access ends with the task

    audit = await pool.fetch(
        "SELECT action, status, result, account_id FROM audit_log WHERE agent_id = $1"
        " AND task_id = $2 ORDER BY audit_id",
        agent.agent_id,
        task_id,
    )
    assert [(r["action"], r["status"], r["result"]) for r in audit] == [
        ("tasks.claim", 200, "ok"),
        ("tasks.accept", 200, "ok"),
        ("accounts.view", 200, "masked"),
        ("calls.verify", 200, "verification_failed"),
        ("accounts.view", 200, "masked"),
        ("calls.verify", 200, "verified"),
        ("accounts.view", 200, "shown"),
        ("accounts.open_dispute", 201, "ok"),
        ("accounts.open_dispute", 200, "ok"),
        ("tasks.wrap_up", 200, "ok"),
        ("tasks.complete", 200, "ok"),
        ("accounts.view", 409, "conflict"),
    ]
    assert {r["account_id"] for r in audit} == {account}

    # The service metrics saw the same thing. Other tests answer billing tasks too, and the metrics agent counts
    # them some time after they happen, so compare with every accepted and completed event the store emitted for
    # billing (ours among them): each counted exactly once.
    emitted = await billing_task_events(pool)
    assert {(task_id, "task.accepted.v1"), (task_id, "task.completed.v1")} <= {(t, kind) for _, t, kind in emitted}
    expected = {kind: sum(1 for *_, t in emitted if t == f"task.{kind}.v1") for kind in ("accepted", "completed")}
    await eventually(
        lambda: queue_counts(live, "billing"),
        lambda c: (c["answered"], c["completed"]) == (expected["accepted"], expected["completed"]),
    )
    exposition = (await client.get("/metrics")).text
    assert 'billing_api_verifications_total{method="pin",result="failed"} 1.0' in exposition
    assert 'billing_api_verifications_total{method="pin",result="passed"} 1.0' in exposition


async def billing_task_events(pool) -> list[tuple[str, str, str]]:
    """(event id, task id, type) of every answer (a task's first acceptance: one that went back to the queue and
    was accepted again is answered_before, not a second answer) and every completion the store wrote for
    billing, once each."""
    rows = await pool.fetch(
        "SELECT DISTINCT e->>'event_id' AS id, e->'payload'->>'task_id' AS task_id, e->>'type' AS type"
        " FROM (SELECT convert_from(value, 'UTF8')::jsonb AS e FROM outbox) AS o"
        " WHERE e->>'type' IN ('task.accepted.v1', 'task.completed.v1') AND e->'payload'->>'queue' = 'billing'"
        " AND coalesce((e->'payload'->>'answered_before')::boolean, false) = false"
    )
    return [(r["id"], r["task_id"], r["type"]) for r in rows]


async def queue_counts(live, queue: str) -> dict[str, int]:
    """All-time figures of one queue from a worker's JSON endpoint (every worker answers for the group)."""
    url = f"http://127.0.0.1:{live.worker_web_port}/queues/metrics"
    async with httpx.AsyncClient() as http:
        figures = (await http.get(url)).json()["queues"].get(queue, {})
    return {key: figures.get(key, 0) for key in ("entered", "answered", "completed")}


async def held_call_task(pool, queue: str, account: str) -> tuple[str, str]:
    """A call task for `account` in a queue of its own, claimed by a new agent: (call id, agent token)."""
    call_id = unique("call")
    async with pool.acquire() as conn, conn.transaction():
        task = await insert_task(
            conn,
            NewTask(
                task_id=make_task_id("call", call_id),
                kind="call",
                source_event_id=unique("evt"),
                account_id=account,
                reason="bill_question",
                rule="default",
                queue=queue,
                tier=1,
                static_priority=10,
                priority=10,
                routed_at=datetime.now(UTC),
                call_id=call_id,
                currency="EUR",
            ),
        )
    agent, token = await create_agent(pool, unique("agent"), Role.AGENT)
    # An hour: the lockout test moves the API's clock 30 minutes ahead, and the API refuses a lapsed lease.
    claimed = await store.claim_next(pool, agent.agent_id, [queue], 3600, datetime.now(UTC))
    assert claimed.task_id == task.task_id
    return call_id, token


async def opened_account(api, account: str) -> None:
    now = datetime.now(UTC)
    await publish(api["live"].require_bootstrap(), [record_of(customer(account, unique("inv"), now)[0])])
    await eventually(
        lambda: api["pool"].fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
    )
    await set_account_pin(api["pool"], account, PIN)


async def verify(client, call_id: str, token: str, **proof: str) -> httpx.Response:
    return await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json=proof)


async def test_five_failures_lock_the_account_for_every_channel_for_thirty_minutes(api) -> None:
    client, pool, clock = api["client"], api["pool"], api["clock"]
    account, queue = unique("acc"), unique("lockq")
    await opened_account(api, account)
    phone_call, phone_agent = await held_call_task(pool, queue, account)
    chat_call, chat_agent = await held_call_task(pool, queue, account)  # another channel, another agent

    lefts = [(await verify(client, phone_call, phone_agent, pin="1111")).json()["failures_left"] for _ in range(4)]
    assert lefts == [4, 3, 2, 1]
    fifth = await verify(client, chat_call, chat_agent, pin="2222")  # the count is the account's, not the call's
    assert fifth.status_code == 200 and fifth.json()["verified"] is False and fifth.json()["locked_until"]

    for call_id, token in ((phone_call, phone_agent), (chat_call, chat_agent)):
        locked = await verify(client, call_id, token, pin=PIN)  # even the right PIN is not checked
        assert locked.status_code == 423 and locked.json()["error"] == "locked_out"
        sms = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
        assert sms.status_code == 423
    try:
        clock.offset = timedelta(minutes=29, seconds=50)
        assert (await verify(client, phone_call, phone_agent, pin=PIN)).status_code == 423
        clock.offset = timedelta(minutes=30, seconds=1)
        opened = await verify(client, phone_call, phone_agent, pin=PIN)
        assert opened.status_code == 200 and opened.json()["verified"] is True
    finally:
        clock.offset = timedelta()
    results = await pool.fetch(
        "SELECT result FROM verification_attempts WHERE account_id = $1 ORDER BY attempt_id", account
    )
    assert [r["result"] for r in results] == ["failed"] * 5 + ["locked"] * 3 + ["passed"]
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE account_id = $1", account) == 0


async def test_a_one_time_code_goes_to_the_contact_of_record_and_works_once(api) -> None:
    client, pool = api["client"], api["pool"]
    account, queue = unique("acc"), unique("otpq")
    await opened_account(api, account)
    call_id, token = await held_call_task(pool, queue, account)
    sent = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
    assert sent.status_code == 202 and sent.json()["sent_to"] == "***78"
    note = await pool.fetchrow("SELECT notification_id, destination FROM notifications WHERE account_id = $1", account)
    assert note["destination"] == "+4915112345678"
    code = (await delivered(api["live"], note["notification_id"]))["body"].split("code is ")[1][:6]
    assert await pool.fetchval("SELECT count(*) FROM one_time_codes WHERE code_hash LIKE $1", f"%{code}%") == 0
    wrong = "000000" if code != "000000" else "111111"
    assert (await verify(client, call_id, token, code=wrong)).json()["verified"] is False
    assert (await verify(client, call_id, token, code=code)).json()["verified"] is True
    reused = await verify(client, call_id, token, code=code)
    assert reused.json()["verified"] is False  # used codes are spent
    for _ in range(2):  # three codes may be valid at once per call (the used one still counts until it expires)
        more = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "email"})
        assert more.status_code == 202
    flood = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
    assert (flood.status_code, flood.json()["error"]) == (429, "too_many_codes")
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE account_id = $1", account) == 3


async def delivered(live, notification_id: int) -> dict:
    """The message as the development channel (NOTIFICATION_FILE, by default under STATE_DIR) received it."""
    outbox = live.notification_file or live.state_dir / "notifications.jsonl"

    async def find() -> dict | None:
        lines = outbox.read_text().splitlines() if outbox.exists() else []
        return next((m for m in map(json.loads, lines) if m["notification_id"] == notification_id), None)

    return await eventually(find, lambda message: message is not None)


async def test_parallel_guesses_are_counted_one_by_one(api) -> None:
    """Twelve wrong PINs at once from two calls: exactly five are checked, the other seven find the lock."""
    client, pool = api["client"], api["pool"]
    account, queue = unique("acc"), unique("raceq")
    await opened_account(api, account)
    calls = [await held_call_task(pool, queue, account) for _ in range(2)]
    guesses = [verify(client, *calls[i % 2], pin=f"{1000 + i}") for i in range(12)]
    statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert statuses == [200] * 5 + [423] * 7
    results = await pool.fetch(
        "SELECT result, count(*) AS n FROM verification_attempts WHERE account_id = $1 GROUP BY result ORDER BY result",
        account,
    )
    assert {r["result"]: r["n"] for r in results} == {"failed": 5, "locked": 7}
