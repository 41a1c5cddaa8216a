"""The agent API process the launcher started, attacked over real HTTP: what it reads before knowing who asks, how
much it reads, text and amounts the database cannot hold, a failure on our side, and one-time codes.

Every answer here, refusals and the 500 included, must have its audit row (found by the X-Request-ID sent), and a
500 must leave the keep-alive connection usable.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from billing.care import store
from billing.care.lifecycle import NewTask, insert_task, make_task_id
from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity import verification
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.notifications import FileSender, NotificationRelay, WebhookSender
from billing.identity.rules.lockout import LockoutPolicy
from billing.identity.rules.roles import Role
from billing.identity.rules.secrets import CodeSeal
from billing.identity.verification import CODE_MESSAGE
from billing.platform.context import create_pool
from tests.integration.helpers import eventually, unique
from tests.integration.test_api_flow import delivered

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024  # API_MAX_BODY_BYTES, its default
BEYOND_INT64 = 2**63  # one more than PostgreSQL's bigint holds
BEYOND_MAXIMUM = 2**53  # one more than MAX_AMOUNT_MINOR (2**53 - 1)


@pytest.fixture(scope="module")
async def real(live):
    pool = await create_pool(live)
    async with httpx.AsyncClient(base_url=f"http://{live.api_host}:{live.api_port}", timeout=30) as client:
        yield {"client": client, "pool": pool, "live": live}
    await pool.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def traced(token: str | None = None) -> tuple[str, dict[str, str]]:
    """A request id of our own, so the test finds the request's audit row."""
    request_id = uuid.uuid4().hex
    headers = {"X-Request-ID": request_id, "Content-Type": "application/json"}
    return request_id, {**headers, **(bearer(token) if token else {})}


async def audited(pool, request_id: str) -> tuple[int, str] | None:
    row = await pool.fetchrow("SELECT status, result FROM audit_log WHERE request_id = $1", request_id)
    return (row["status"], row["result"]) if row else None


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


async def chunks(body: bytes, size: int = 4096):
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_request_without_a_valid_token_answers_401_whatever_its_body(real) -> None:
    client, pool = real["client"], real["pool"]
    bodies = {
        "malformed": b"{not json",
        "deeply nested": b"[" * 50_000,
        "too large": json.dumps({"note": "x" * (2 * LIMIT)}).encode(),
    }
    for what, body in bodies.items():
        for token in (None, "forged-token"):
            request_id, headers = traced(token)
            response = await client.post(f"/tasks/{unique('tsk')}/disputes", headers=headers, content=body)
            assert (response.status_code, response.json()["error"]) == (401, "unauthenticated"), what
            assert await audited(pool, request_id) == (401, "unauthenticated")
    request_id, headers = traced()
    streamed = await client.post("/tasks/claim", headers=headers, content=chunks(bodies["too large"]))
    assert streamed.status_code == 401
    row = await pool.fetchrow("SELECT action, agent_id FROM audit_log WHERE request_id = $1", request_id)
    assert (row["action"], row["agent_id"]) == ("tasks.claim", None)  # the route is named even before routing


async def test_a_body_over_the_limit_answers_413_counted_on_the_stream(real) -> None:
    client, pool = real["client"], real["pool"]
    _, token = await create_agent(pool, unique("agent"), Role.AGENT)
    big = json.dumps({"outcome": "resolved", "practice": "none", "pad": " " * LIMIT}).encode()
    path = f"/tasks/{unique('tsk')}/complete"
    for what, content in (("with Content-Length", big), ("chunked", chunks(big))):
        request_id, headers = traced(token)
        response = await client.post(path, headers=headers, content=content)
        assert (response.status_code, response.json()["error"]) == (413, "body_too_large"), what
        assert await audited(pool, request_id) == (413, "body_too_large")
    # At the limit the body is read: this one is refused for what it says, not for its size.
    at_limit = json.dumps({"outcome": "resolved", "practice": "none", "pad": ""}).encode()
    at_limit = at_limit[:-1] + b" " * (LIMIT - len(at_limit)) + b"}"
    assert len(at_limit) == LIMIT
    response = await client.post(path, headers=traced(token)[1], content=at_limit)
    assert (response.status_code, response.json()["error"]) == (422, "malformed_request")


async def test_deeply_nested_json_answers_422(real) -> None:
    client, pool = real["client"], real["pool"]
    _, token = await create_agent(pool, unique("agent"), Role.AGENT)
    for body in (b"[" * 20_000, b'{"criteria": ' * 5_000, b"[" * 5_000 + b"]" * 5_000):
        request_id, headers = traced(token)
        response = await client.post(f"/tasks/{unique('tsk')}/discounts", headers=headers, content=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request")
        assert await audited(pool, request_id) == (422, "malformed_request")


async def test_nul_bytes_and_lone_surrogates_answer_422_and_are_audited(real) -> None:
    client, pool = real["client"], real["pool"]
    task_id, call_id, token = await held_task(pool, unique("acc"), verified=True)
    attempts = [
        ("POST", "/tasks/tsk-1%00x/accept", None),
        ("GET", "/tasks/tsk-%ED%A0%80/account", None),  # a UTF-8-encoded lone surrogate in the path
        ("POST", f"/calls/{call_id}%00/verify", b'{"pin": "1234"}'),
        ("POST", f"/tasks/{task_id}/refuse?reason=no%00pe", None),
        (
            "POST",
            f"/tasks/{task_id}/disputes",
            b'{"invoice_id": "i", "line_id": "l", "reason": "other", "note": "a\\u0000b"}',
        ),
        (
            "POST",
            f"/tasks/{task_id}/disputes",
            b'{"invoice_id": "i", "line_id": "l", "reason": "other", "note": "\\ud800"}',
        ),
        (
            "POST",
            f"/tasks/{task_id}/discounts",
            b'{"kind": "fixed", "amount_minor": 100, "reason_code": "goodwill", "criteria": ["loyal\\u0000"]}',
        ),
        ("POST", f"/tasks/{task_id}/disputes/dsp-1/resolve", b'{"outcome": "rejected", "reason": "\\udfff"}'),
    ]
    for method, path, body in attempts:
        request_id, headers = traced(token)
        response = await client.request(method, path, headers=headers, content=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request"), (path, response.text)
        assert await audited(pool, request_id) == (422, "malformed_request"), path
    _, supervisor = await create_agent(pool, unique("lead"), Role.SUPERVISOR)
    request_id, headers = traced(supervisor)
    response = await client.get("/audit?account=acc%00x", headers=headers)
    assert (response.status_code, response.json()["error"]) == (422, "malformed_request")
    assert await audited(pool, request_id) == (422, "malformed_request")
    still = await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))
    assert still.status_code == 200  # nothing of the refused requests changed the task


async def test_amounts_beyond_the_documented_maximum_answer_422(real) -> None:
    client, pool = real["client"], real["pool"]
    task_id, _, token = await held_task(pool, unique("acc"), verified=True)
    assert (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).status_code == 200
    bodies = [
        ("complete", {"outcome": "resolved", "practice": "none", "discount_minor": BEYOND_INT64}),
        ("complete", {"outcome": "resolved", "practice": "none", "discount_minor": BEYOND_MAXIMUM}),
        ("disputes", {"invoice_id": "i", "line_id": "l", "reason": "other", "amount_minor": BEYOND_INT64}),
        ("discounts", {"kind": "fixed", "amount_minor": BEYOND_INT64, "reason_code": "goodwill", "criteria": ["x"]}),
        ("disputes/dsp-1/resolve", {"outcome": "credited", "credit_minor": BEYOND_MAXIMUM, "reason": "r"}),
    ]
    for route, body in bodies:
        request_id, headers = traced(token)
        response = await client.post(f"/tasks/{task_id}/{route}", headers=headers, json=body)
        assert (response.status_code, response.json()["error"]) == (422, "malformed_request"), (route, response.text)
        assert "less than or equal to 9007199254740991" in response.json()["message"]
        assert await audited(pool, request_id) == (422, "malformed_request")
    task = await pool.fetchrow("SELECT state, discount_minor FROM tasks WHERE task_id = $1", task_id)
    assert (task["state"], task["discount_minor"]) == ("accepted", None)  # no refusal changed it


async def test_a_failure_on_our_side_answers_500_is_audited_and_keeps_the_connection(real) -> None:
    client, pool = real["client"], real["pool"]
    account = unique("acc")
    # A contact of record the code cannot read (a JSON string, not an object): sending a code to it fails.
    await pool.execute(
        "INSERT INTO accounts (account_id, plan_id, billing_anchor_day, currency, jurisdiction, contact, status,"
        " opened_at) VALUES ($1, 'mobile-s', 1, 'EUR', 'DE', $2, 'active', now())",
        account,
        "not an object",
    )
    _, call_id, token = await held_task(pool, account)
    request_id, headers = traced(token)
    failed = await client.post(f"/calls/{call_id}/otp", headers=headers, json={"channel": "sms"})
    assert failed.status_code == 500
    assert failed.json() == {"error": "internal_error", "message": "the request failed on our side; it was logged"}
    assert failed.headers.get("connection") != "close"
    first_socket = failed.extensions["network_stream"].get_extra_info("client_addr")
    assert await audited(pool, request_id) == (500, "internal_error")
    after = await client.get("/queues", headers=bearer(token))
    assert after.status_code == 200
    second_socket = after.extensions["network_stream"].get_extra_info("client_addr")
    assert second_socket == first_socket, "the connection was dropped"


async def test_a_one_time_code_is_delivered_by_the_channel_and_never_stored_readable(real) -> None:
    client, pool, live = real["client"], real["pool"], real["live"]
    account = unique("acc")
    opened = datetime.now(UTC) - timedelta(minutes=5)
    await publish(
        live.require_bootstrap(),
        [
            record_of(
                ev.AccountOpenedEvent(
                    event_id=unique("open"),
                    type="account.opened.v1",
                    source="crm/onboarding",
                    occurred_at=opened,
                    schema_version=1,
                    payload=AccountOpened(
                        account_id=account,
                        plan_id="mobile-s",
                        billing_anchor_day=1,
                        currency="EUR",
                        jurisdiction="DE",
                        opened_at=opened,
                        contact=Contact(name="Erika Mustermann", phone="+4915112345678"),
                    ),
                )
            )
        ],
    )
    await eventually(
        lambda: pool.fetchval("SELECT count(*) FROM accounts WHERE account_id = $1", account), lambda n: n == 1
    )
    _, call_id, token = await held_task(pool, account)

    sent = await client.post(f"/calls/{call_id}/otp", headers=bearer(token), json={"channel": "sms"})
    assert sent.status_code == 202 and sent.json()["sent_to"] == "***78"
    notification_id = await pool.fetchval("SELECT notification_id FROM notifications WHERE account_id = $1", account)
    message = await delivered(live, notification_id)  # by the API process's relay, to the development channel
    assert (message["channel"], message["destination"]) == ("sms", "+4915112345678")
    code = message["body"].split("code is ")[1][:6]
    assert code.isdigit()

    row = await eventually(
        lambda: pool.fetchrow(
            "SELECT status, sealed_code, row_to_json(n)::text AS everything"
            " FROM notifications n WHERE notification_id = $1",
            notification_id,
        ),
        lambda r: r["status"] == "sent",
    )
    assert row["sealed_code"] is None  # cleared once delivered
    assert code not in row["everything"] and "{code}" in row["everything"]
    verified = await client.post(f"/calls/{call_id}/verify", headers=bearer(token), json={"code": code})
    assert verified.json()["verified"] is True


async def test_two_relays_deliver_each_code_once_and_clear_it(real, tmp_path: Path) -> None:
    """Two API processes with the same NOTIFICATION_KEY: each pending code goes out once, by one of them."""
    pool, account, now = real["pool"], unique("acc"), datetime.now(UTC)
    seal, stranger = CodeSeal(), CodeSeal()  # a shared key, and another process's own key

    async def pending(code: str, sealed_by: CodeSeal, expires_at: datetime) -> int:
        return await pool.fetchval(
            "INSERT INTO notifications (account_id, channel, destination, body, sealed_code, key_id, expires_at,"
            " created_at) VALUES ($1, 'sms', '+4915112345678', $2, $3, $4, $5, $6) RETURNING notification_id",
            account,
            CODE_MESSAGE,
            sealed_by.seal(code),
            sealed_by.key_id,
            expires_at,
            now,
        )

    ours = {await pending(f"{i:06d}", seal, now + timedelta(minutes=5)): f"{i:06d}" for i in range(30)}
    late = await pending("999999", seal, now - timedelta(seconds=1))  # expired before anyone sent it
    theirs = await pending("888888", stranger, now + timedelta(minutes=5))

    async def database() -> asyncpg.Pool:
        return pool

    outbox = tmp_path / "notifications.jsonl"
    relays = [NotificationRelay(database, seal, FileSender(outbox), lambda: now) for _ in range(2)]
    counts = await asyncio.gather(*(relay.deliver_pending() for relay in relays))
    assert sum(counts) == 30
    sent = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert sorted(m["notification_id"] for m in sent) == sorted(ours)  # each once
    assert all(m["body"] == f"Your verification code is {ours[m['notification_id']]}. Never share it." for m in sent)
    rows = {
        r["notification_id"]: (r["status"], r["sealed_code"] is None)
        for r in await pool.fetch(
            "SELECT notification_id, status, sealed_code FROM notifications WHERE account_id = $1", account
        )
    }
    assert {rows[n] for n in ours} == {("sent", True)}
    assert (rows[late], rows[theirs]) == (("expired", True), ("pending", False))  # theirs: its own relay's job

    gateway_down = NotificationRelay(database, stranger, WebhookSender("http://127.0.0.1:1/sms"), lambda: now)
    assert await gateway_down.deliver_pending() == 0
    await gateway_down.stop()
    row = await pool.fetchrow("SELECT status, attempts FROM notifications WHERE notification_id = $1", theirs)
    assert (row["status"], row["attempts"]) == ("pending", 1)  # kept for the next try


async def test_card_numbers_with_any_separators_are_masked_where_an_agent_reads_text(real) -> None:
    client, pool, live = real["client"], real["pool"], real["live"]
    account, invoice_id = unique("acc"), unique("inv")
    opened = datetime.now(UTC) - timedelta(minutes=5)
    lines = (
        InvoiceLine(
            line_id="fee", kind=InvoiceLineKind.RECURRING, description="Paid by 4000.0000.0000.0002", amount_minor=4200
        ),
        InvoiceLine(
            line_id="roam", kind=InvoiceLineKind.USAGE, description="Amex 3782  822463  10005, 12/28", amount_minor=800
        ),
        InvoiceLine(
            line_id="ref", kind=InvoiceLineKind.USAGE, description="Order 1234 5678 9012 3456", amount_minor=1000
        ),  # fails the Luhn check: a reference, not a card, so it stays
    )
    meta = {"source": "billing/upstream", "occurred_at": opened, "schema_version": 1}
    await publish(
        live.require_bootstrap(),
        [
            record_of(e)
            for e in (
                ev.AccountOpenedEvent(
                    **meta,
                    event_id=unique("open"),
                    type="account.opened.v1",
                    payload=AccountOpened(
                        account_id=account,
                        plan_id="mobile-s",
                        billing_anchor_day=1,
                        currency="EUR",
                        jurisdiction="DE",
                        opened_at=opened,
                        contact=Contact(name="Erika Mustermann"),
                    ),
                ),
                ev.InvoiceIssuedEvent(
                    **meta,
                    event_id=unique("iss"),
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
                        subtotal_minor=6000,
                        discount_minor=0,
                        tax_minor=0,
                        total_minor=6000,
                    ),
                ),
            )
        ],
    )
    await eventually(
        lambda: pool.fetchval("SELECT count(*) FROM invoices_issued WHERE account_id = $1", account), lambda n: n == 1
    )
    # A back-office task (no caller to verify) whose reason came with a card number in it.
    task_id, _, token = await held_task(pool, account, call=False, reason="customer wrote 4000-0000-0000-0002")
    accepted = (await client.post(f"/tasks/{task_id}/accept", headers=bearer(token))).json()["task"]
    assert accepted["reason"] == "customer wrote ****-****-****-0002"
    view = (await client.get(f"/tasks/{task_id}/account", headers=bearer(token))).json()["account"]
    described = {line["line_id"]: line["description"] for line in view["invoices"][0]["lines"]}
    assert described == {
        "fee": "Paid by ****.****.****.0002",
        "roam": "Amex ****  ******  *0005, 12/28",
        "ref": "Order 1234 5678 9012 3456",
    }
