"""What collections feeds on the real broker and PostgreSQL (issue 13 point 4): good standing from overdue
invoices, refusing and then granting a discount through the agent API.

On the dated stack (no closer, so no dunning loop): dunning runs here with fixed event-time instants. The invoice
of 10,000 EUR minor units is due 2027-03-15, grace 3 days: overdue from the 19th.
"""

from __future__ import annotations

import contextlib
import time as time_module
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import httpx
import orjson
import pytest
from pydantic import SecretStr

from billing.collections.dunning_config import load_policy
from billing.collections.dunning_runner import run_dunning
from billing.collections.rules.webhook import sign
from billing.entrypoints.api.app import create_app
from billing.identity.rules.roles import Role
from billing.invoicing.loop import event_time_clock
from tests.integration.collections_helpers import _send, invoice, on, paid
from tests.integration.discounts_helpers import open_account as _open_account
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.money_api_helpers import api_world
from tests.integration.money_api_helpers import auth_headers as _auth
from tests.integration.money_api_helpers import held_call_task as _call_task

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(dated_stack):
    async for built in api_world(dated_stack.settings):
        yield built


@contextlib.asynccontextmanager
async def _pool(settings):
    pool = await asyncpg.create_pool(settings.require_database_url(), min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _dunning(settings, account: str, as_of: datetime) -> None:
    async with _pool(settings) as pool:
        await run_dunning(pool, load_policy(settings), as_of, accounts=[account])


GOODWILL = {"kind": "fixed_next_invoice", "amount_minor": 2_000, "reason_code": "outage", "criteria": ["outage"]}


async def test_an_overdue_invoice_refuses_a_discount_until_it_is_paid(world) -> None:
    settings, client, pool = world["live"], world["client"], world["pool"]
    ann, token = world["people"][Role.AGENT]
    account = await _open_account(settings, datetime.now(UTC) - timedelta(days=30))
    inv = f"{account}-m3"
    await _send(settings, account, [invoice(account, inv, 3)], 1)
    # The 18th is the last day to pay: still in good standing; a pass on the 20th sees it overdue.
    await _dunning(settings, account, on(3, 18))
    dsn = settings.require_database_url()
    assert await fetchval(dsn, "SELECT overdue_from FROM collection_invoices WHERE invoice_id = $1", inv) is None
    await _dunning(settings, account, on(3, 20))
    task = await _call_task(pool, account, ann.agent_id)
    refused = await client.post(f"/tasks/{task}/discounts", json=GOODWILL, headers=_auth(token, "k-overdue"))
    assert refused.status_code == 422, refused.text
    assert refused.json() == {
        "error": "good_standing_required",
        "message": "good_standing_required: 1 overdue invoice(s); good standing is required",
    }
    assert await fetchval(dsn, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    # The customer pays the 10,000: nothing is overdue, the same request (a new key) is granted.
    await _send(settings, account, [paid(account, f"{account}-p1", 10_000, on(3, 22))], 2)
    granted = await client.post(f"/tasks/{task}/discounts", json=GOODWILL, headers=_auth(token, "k-paid"))
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"


def _invoice_due(account: str, invoice_id: str, due: date, total: int = 10_000):
    """An upstream invoice issued 14 days before `due` (the 2027 helper's, dated around the stack's clock)."""
    event = invoice(account, invoice_id, 3, total)
    issued = datetime.combine(due - timedelta(days=14), time(6), UTC)
    payload = event.payload.model_copy(update={"due_date": due, "issued_at": issued})
    return event.model_copy(update={"payload": payload, "occurred_at": issued})


async def _event_today(pool) -> datetime:
    """What the API takes as now for a promise: the event-time clock, or the wall clock before any usage."""
    return await event_time_clock(pool) or datetime.now(UTC)


async def test_promise_to_pay_pauses_dunning_and_the_statement_ends_at_the_balance(world) -> None:
    settings, client, pool = world["live"], world["client"], world["pool"]
    ann, token = world["people"][Role.AGENT]
    account = await _open_account(settings, datetime.now(UTC) - timedelta(days=30))
    now = await _event_today(pool)
    due = now.date() - timedelta(days=15)  # grace 3: 12 days overdue today
    inv = f"{account}-late"
    first_pay = datetime.combine(due - timedelta(days=2), time(9), UTC)
    await _send(
        settings, account, [_invoice_due(account, inv, due), paid(account, f"{account}-p1", 4_000, first_pay)], 2
    )
    task = await _call_task(pool, account, ann.agent_id)
    url = f"/tasks/{task}/promise-to-pay"
    promised_for = now.date() + timedelta(days=5)
    body = {"date": promised_for.isoformat(), "amount_minor": 6_000}

    missing = await client.post(url, json=body, headers=_auth(token))
    assert (missing.status_code, missing.json()["error"]) == (400, "idempotency_key_required")
    too_much = await client.post(url, json={**body, "amount_minor": 6_001}, headers=_auth(token, "k-much"))
    assert (too_much.status_code, too_much.json()["error"]) == (422, "promise_exceeds_open"), too_much.text
    passed = await client.post(url, json={**body, "date": now.date().isoformat()}, headers=_auth(token, "k-past"))
    assert (passed.status_code, passed.json()["error"]) == (422, "promise_date_passed")
    made = await client.post(url, json=body, headers=_auth(token, "k-ptp"))
    assert made.status_code == 201, made.text
    assert {k: made.json()[k] for k in ("status", "amount_minor", "currency", "dunning_paused_until")} == {
        "status": "recorded",
        "amount_minor": 6_000,
        "currency": "EUR",
        "dunning_paused_until": promised_for.isoformat(),
    }
    again = await client.post(url, json=body, headers=_auth(token, "k-ptp"))
    assert (again.status_code, again.json()) == (201, made.json())
    dsn = settings.require_database_url()
    assert await fetchval(dsn, "SELECT count(*) FROM payment_promises WHERE account_id = $1", account) == 1

    # Paused until the promised date, every step due then (reminder, second notice, the call) the day after.
    policy = load_policy(settings)
    async with _pool(settings) as runner:
        held = await run_dunning(runner, policy, now + timedelta(days=1), accounts=[account])
        assert (held.steps, held.paused) == ([], [account])
        at_date = datetime.combine(promised_for, time(18), UTC)
        assert (await run_dunning(runner, policy, at_date, accounts=[account])).paused == [account]
        resumed = await run_dunning(runner, policy, at_date + timedelta(days=1), accounts=[account])
        assert [s[2] for s in resumed.steps] == ["reminder", "second_notice", "collections_call"]
    # The call's priority from the queue facts: base 40, average invoice 10,000 -> +10, tenure 30 days -> 0,
    # 6,000 overdue -> +5, 18 days overdue -> +5: 60.
    task_row = await fetch(
        dsn, "SELECT static_priority, priority FROM tasks WHERE account_id = $1 AND kind = 'collections'", account
    )
    assert [tuple(r) for r in task_row] == [(60, 60)]

    # The statement: +100.00 (invoice), -40.00 (payment) -> 60.00, the balance.
    start, end = (due - timedelta(days=14)).isoformat(), now.date().isoformat()
    shown = await client.get(f"/tasks/{task}/statement", params={"from": start, "to": end}, headers=_auth(token))
    assert shown.status_code == 200, shown.text
    got = shown.json()
    assert (got["opening_balance_minor"], got["closing_balance_minor"], got["currency"]) == (0, 6_000, "EUR")
    assert [(line["kind"], line["amount_minor"], line["balance_minor"]) for line in got["lines"]] == [
        ("invoice", 10_000, 10_000),
        ("payment", -4_000, 6_000),
    ]
    assert got["lines"][0]["reference"] == f"UP-{inv}"[:32]
    assert await fetchval(dsn, "SELECT balance_minor FROM account_collections WHERE account_id = $1", account) == 6_000
    # A later period opens at the balance; a period backwards is refused.
    later = await client.get(f"/tasks/{task}/statement", params={"from": end, "to": end}, headers=_auth(token))
    assert (later.json()["opening_balance_minor"], later.json()["lines"]) == (6_000, [])
    backwards = await client.get(f"/tasks/{task}/statement", params={"from": end, "to": start}, headers=_auth(token))
    assert (backwards.status_code, backwards.json()["error"]) == (422, "invalid_period")


WEBHOOK_SECRET = "whsec_feeds_test"


async def test_a_signed_provider_webhook_becomes_one_payment(dated_stack) -> None:
    settings = dated_stack.settings.model_copy(update={"payment_webhook_secret": SecretStr(WEBHOOK_SECRET)})
    app = create_app(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    dsn = settings.require_database_url()
    try:
        account = await _open_account(settings, datetime.now(UTC) - timedelta(days=30))
        await _send(settings, account, [_invoice_due(account, f"{account}-inv", date(2027, 3, 15))], 1)
        provider_id = unique("evt")
        document = {
            "id": provider_id,
            "type": "payment_intent.succeeded",
            "created": int(datetime(2027, 3, 10, tzinfo=UTC).timestamp()),
            "data": {
                "object": {
                    "id": f"pi_{provider_id}",
                    "amount": 2_500,
                    "currency": "eur",
                    "payment_method_types": ["card"],
                    "metadata": {"account_id": account},
                }
            },
        }
        body = orjson.dumps(document)
        now = int(time_module.time())

        async def post(content: bytes, signature: str | None, header: str = "Stripe-Signature"):
            headers = {"Content-Type": "application/json", **({header: signature} if signature else {})}
            return await client.post("/webhooks/payments", content=content, headers=headers)

        async def written() -> tuple[object, object]:
            rows = await fetchval(
                dsn, "SELECT count(*) FROM payment_webhook_events WHERE provider_event_id = $1", provider_id
            )
            queued = await fetchval(
                dsn,
                "SELECT count(*) FROM outbox WHERE position($1::bytea in value) > 0",
                f"webhook:{provider_id}".encode(),
            )
            return rows, queued

        refusals = [
            (await post(body, None), 401, "missing"),
            (await post(body, sign(body, "whsec_other", now)), 401, "no v1 signature matches"),
            (await post(body, sign(body, WEBHOOK_SECRET, now - 301)), 401, "stale"),
            (await post(body + b" ", sign(body, WEBHOOK_SECRET, now)), 401, "no v1 signature matches"),
            (await post(b"{not json", sign(b"{not json", WEBHOOK_SECRET, now)), 400, "not JSON"),
        ]
        for response, status, words in refusals:
            assert response.status_code == status, response.text
            assert set(response.json()) == {"error", "message"} and words in response.json()["message"]
        assert await written() == (0, 0)

        first = await post(body, sign(body, WEBHOOK_SECRET, now), header="Payment-Signature")
        assert (first.status_code, first.json()["status"]) == (200, "accepted"), first.text
        again = await post(body, sign(body, WEBHOOK_SECRET, now + 1))
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert await written() == (1, 1)
        # The workers' relay publishes it, the projection applies it: 10,000 - 2,500 = 7,500 open.
        await eventually(
            lambda: fetchval(dsn, "SELECT balance_minor FROM account_collections WHERE account_id = $1", account),
            lambda balance: balance == 7_500,
        )
        audited = await fetchval(
            dsn, "SELECT count(*) FROM audit_log WHERE action = 'webhooks.payments' AND agent_id IS NULL"
        )
        assert audited >= 7
    finally:
        await client.aclose()
        await app.state.services.close()
