"""Money and authority through the agent API on the real stack.

Every money route needs the caller verified on the task's call; a dispute credit is decided by the same
authority as a discount (per grant, the resolver's monthly budget, the customer's 12-month limit, approval
above it by a different person), and the person who opened a dispute may not credit it above the policy's
``max_credit_by_opener_minor``; a refusal changes nothing; an Idempotency-Key is required; nothing derived from
the account's amounts reaches the agent of an unverified caller.

Policy (EUR cents): the default without tenure rules, and a front-line monthly budget of 6,000 so that a spent
budget is three credits away: agent 2,500 per grant / 6,000 a month / 5,000 per customer in 12 months; tier2
10,000 / 200,000 / 15,000; supervisor 50,000 / 1,000,000 / 60,000. Whoever opened a dispute may credit it up to
1,000 (the default max_credit_by_opener_minor for EUR). People are created per test: budgets are per person.

Every account has one upstream invoice of 5,950: fee 4,200 + roaming 800 + VAT 19 % of 5,000 = 950.
"""

from __future__ import annotations

import pytest

from billing.identity.agent_store import set_account_pin
from billing.identity.rules.roles import Role
from tests.integration.helpers import unique
from tests.integration.money_api_helpers import (
    CALLER_PIN,
    auth_headers,
    held_call_task,
    hold_task,
)
from tests.integration.money_authority_helpers import (
    count_of,
    credited,
    desk_disputes,
    dispute_row,
    error_of,
    invoiced_account,
    money_world,
    person,
    resolve_via_api,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(dated_stack):
    async for built in money_world(dated_stack):
        yield built


async def test_an_unverified_caller_gets_neither_a_discount_nor_a_credit(world) -> None:
    client, pool = world["client"], world["pool"]
    ann, token = await person(world, Role.AGENT)
    account, invoice_id = await invoiced_account(world)
    (dispute,) = await desk_disputes(world, account, invoice_id, [900])
    task = await held_call_task(pool, account, ann.agent_id, verified=False)
    goodwill = {
        "kind": "credit_note",
        "amount_minor": 500,
        "invoice_id": invoice_id,
        "reason_code": "billing_error",
        "criteria": ["double fee"],
    }

    grant = await client.post(f"/tasks/{task}/discounts", json=goodwill, headers=auth_headers(token, unique("k")))
    credit = await resolve_via_api(world, token, task, dispute, credited(500))
    for refused in (grant, credit):
        assert error_of(refused) == (403, "caller_not_verified"), refused.text
    assert await count_of(world, "SELECT count(*) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 0
    assert await count_of(world, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    assert (await dispute_row(world, dispute))[1] == "open"

    # The caller gives the PIN on this call (through the API); the same requests now go through (500 each,
    # within the agent's 2,500 per grant, 6,000 a month and 5,000 per customer: 1,000 in all).
    call_id = await pool.fetchval("SELECT call_id FROM tasks WHERE task_id = $1", task)
    await set_account_pin(pool, account, CALLER_PIN)
    verified = await client.post(f"/calls/{call_id}/verify", json={"pin": CALLER_PIN}, headers=auth_headers(token))
    assert verified.json()["verified"] is True
    grant = await client.post(f"/tasks/{task}/discounts", json=goodwill, headers=auth_headers(token, unique("k")))
    assert (grant.status_code, grant.json()["status"]) == (201, "granted"), grant.text
    credit = await resolve_via_api(world, token, task, dispute, credited(500))
    assert (credit.status_code, credit.json()["outcome"], credit.json()["credit_minor"]) == (200, "credited", 500)


async def test_a_refusal_changes_nothing(world) -> None:
    client, pool = world["client"], world["pool"]
    ann, token = await person(world, Role.AGENT)
    account, invoice_id = await invoiced_account(world)
    (dispute,) = await desk_disputes(world, account, invoice_id, [900])
    task = await held_call_task(pool, account, ann.agent_id)
    before = await dispute_row(world, dispute)
    review_events = "SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8') LIKE $1"

    # 950 is more than the 900 disputed: refused, and neither the review nor its event nor the key is kept,
    # so the same key runs the request again (and is refused again).
    key = unique("res")
    for _ in range(2):
        refused = await resolve_via_api(world, token, task, dispute, credited(950), key)
        assert error_of(refused) == (422, "disputed_amount"), refused.text
    assert await dispute_row(world, dispute) == before
    assert await count_of(world, "SELECT count(*) FROM dispute_transitions WHERE dispute_id = $1", dispute) == 0
    assert await count_of(world, review_events, f"%dispute.in_review.v1%{dispute}%") == 0
    assert await count_of(world, "SELECT count(*) FROM idempotency_keys WHERE agent_id = $1", ann.agent_id) == 0

    # Beyond even a supervisor's 50,000 per grant: refused, and no request, charge or event is written.
    beyond = await client.post(
        f"/tasks/{task}/discounts",
        headers=auth_headers(token, unique("k")),
        json={"kind": "fixed_next_invoice", "amount_minor": 60_000, "reason_code": "outage", "criteria": ["outage"]},
    )
    assert error_of(beyond) == (422, "max_per_grant_minor"), beyond.text
    for table in ("discount_requests", "discount_budget_charges"):
        assert await count_of(world, f"SELECT count(*) FROM {table} WHERE account_id = $1", account) == 0, table
    assert await count_of(world, review_events, f"%discount.granted.v1%{account}%") == 0


async def test_money_routes_refuse_a_request_without_an_idempotency_key(world) -> None:
    client, pool = world["client"], world["pool"]
    (ann, token), (sue, sue_token) = await person(world, Role.AGENT), await person(world, Role.SUPERVISOR)
    account, invoice_id = await invoiced_account(world)
    (dispute,) = await desk_disputes(world, account, invoice_id, [900])
    task = await held_call_task(pool, account, ann.agent_id)
    fixed = {"kind": "fixed_next_invoice", "amount_minor": 3_000, "reason_code": "outage", "criteria": ["outage"]}
    before = await dispute_row(world, dispute)

    keyless = [
        await client.post(f"/tasks/{task}/discounts", json=fixed, headers=auth_headers(token)),
        await resolve_via_api(world, token, task, dispute, credited(500), key=None),
    ]
    assert await count_of(world, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    assert await dispute_row(world, dispute) == before
    # 3,000 > the agent's 2,500 per grant: with a key, an approval task for the two approval routes.
    asked = await client.post(f"/tasks/{task}/discounts", json=fixed, headers=auth_headers(token, unique("k")))
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await hold_task(pool, sue.agent_id, approval, "supervisors")
    keyless += [
        await client.post(f"/tasks/{approval}/approve", headers=auth_headers(sue_token)),
        await client.post(f"/tasks/{approval}/refuse", params={"reason": "no"}, headers=auth_headers(sue_token)),
    ]
    for response in keyless:
        assert error_of(response) == (400, "idempotency_key_required"), (response.request.url, response.text)
        assert "Idempotency-Key" in response.json()["message"]
    status = await pool.fetchval("SELECT status FROM discount_requests WHERE task_id = $1", approval)
    assert status == "pending"


async def test_no_figure_of_the_account_reaches_an_unverified_callers_agent(world) -> None:
    pool = world["pool"]
    sue, token = await person(world, Role.SUPERVISOR)
    account, invoice_id = await invoiced_account(world)
    (dispute,) = await desk_disputes(world, account, invoice_id, [7_000])
    task = await held_call_task(pool, account, sue.agent_id, verified=False)
    # 6,000: within the 7,000 disputed and Sue's 50,000, but more than the 5,950 the invoice comes to.
    refused = await resolve_via_api(world, token, task, dispute, credited(6_000))
    assert error_of(refused) == (403, "caller_not_verified"), refused.text
    for figure in ("5950", "5,950", "59.50", "7000", "7,000", "70.00"):
        assert figure not in refused.text
