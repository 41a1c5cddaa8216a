"""The agent API process the launcher started, over real HTTP: a one-time code is delivered by the channel and
never stored readable, two relays deliver each code once, and card numbers are masked wherever an agent reads text.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from billing.contracts import envelope as ev
from billing.contracts.accounts import AccountOpened, Contact
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.notifications import FileSender, NotificationRelay, WebhookSender
from billing.identity.rules.secrets import CodeSeal
from billing.identity.verification import CODE_MESSAGE
from tests.integration.agent_api_helpers import bearer, delivered, held_task
from tests.integration.helpers import eventually, recent_period, unique

pytestmark = pytest.mark.integration


async def test_a_one_time_code_is_delivered_by_the_channel_and_never_stored_readable(agent_api_over_http) -> None:
    client, pool, live = agent_api_over_http["client"], agent_api_over_http["pool"], agent_api_over_http["live"]
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


async def test_two_relays_deliver_each_code_once_and_clear_it(agent_api_over_http, tmp_path: Path) -> None:
    """Two API processes with the same NOTIFICATION_KEY: each pending code goes out once, by one of them."""
    pool, account, now = agent_api_over_http["pool"], unique("acc"), datetime.now(UTC)
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


async def test_card_numbers_with_any_separators_are_masked_where_an_agent_reads_text(agent_api_over_http) -> None:
    client, pool, live = agent_api_over_http["client"], agent_api_over_http["pool"], agent_api_over_http["live"]
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
    period = recent_period(opened)
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
                        period_start=period[0],
                        period_end=period[1],
                        issued_at=opened,
                        due_date=period[2],
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
    # The invoice document of the same invoice masks them the same way, as data and as the HTML page.
    document = (await client.get(f"/tasks/{task_id}/invoices/{invoice_id}", headers=bearer(token))).json()["invoice"]
    page = (await client.get(f"/tasks/{task_id}/invoices/{invoice_id}?format=html", headers=bearer(token))).text
    for shown in (str(document), page):
        assert "4000.0000.0000.0002" not in shown and "3782  822463  10005" not in shown
        assert "****.****.****.0002" in shown
