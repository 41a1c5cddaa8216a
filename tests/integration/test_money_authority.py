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

import copy
from datetime import UTC, datetime, timedelta

import pytest

from billing.care import store
from billing.discounts.rules.policy import AuthorityPolicy
from billing.discounts.rules.policy_defaults import DEFAULT_POLICY_DATA
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.agent_store import create_agent, set_account_pin
from billing.identity.rules.roles import Role
from tests.integration.helpers import eventually, unique
from tests.integration.test_discounts_api import CALLER_PIN, _auth, _call_task, _hold, api_world
from tests.integration.test_discounts_scenarios import _open_account
from tests.integration.test_disputes_credit import _open_disputes, _opened, _upstream_invoice

pytestmark = pytest.mark.integration


def _module_policy() -> AuthorityPolicy:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for rule in data["eligibility"].values():
        rule["min_tenure_days"] = 0
    data["authority"]["EUR"]["agent"]["monthly_budget_minor"] = 6_000
    return AuthorityPolicy.from_dict(data)


POLICY = _module_policy()


@pytest.fixture(scope="module")
async def world(dated_stack):
    """On the stack without a closer, as tests/integration/test_disputes_credit.py (upstream invoices)."""
    async for built in api_world(dated_stack.settings):
        built["app"].state.services.discount_policy = POLICY
        yield built


async def _person(world, role: Role):
    return await create_agent(world["pool"], unique(role.value), role)


async def _invoiced_account(world) -> tuple[str, str]:
    live, now = world["live"], datetime.now(UTC)
    account = await _open_account(live, now - timedelta(days=40))
    invoice_id = unique("inv")
    await publish(live.require_bootstrap(), [record_of(_upstream_invoice(account, invoice_id, now))])
    await eventually(
        lambda: world["pool"].fetchval("SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", invoice_id),
        lambda n: n == 1,
    )
    return account, invoice_id


async def _desk_disputes(world, account: str, invoice_id: str, amounts: list[int]) -> list[str]:
    """Disputes opened at the desk (dispute.opened.v1 from another producer: nobody here opened them)."""
    events = [_opened(account, invoice_id, amount) for amount in amounts]
    await _open_disputes(world["live"], events)
    return [event.payload.dispute_id for event in events]


def _credit(amount_minor: int) -> dict:
    return {"outcome": "credited", "credit_minor": amount_minor, "reason": "charged twice"}


async def _resolve(world, token: str, task_id: str, dispute_id: str, body: dict, key: str | None = "new"):
    key = unique("res") if key == "new" else key
    return await world["client"].post(
        f"/tasks/{task_id}/disputes/{dispute_id}/resolve", json=body, headers=_auth(token, key)
    )


async def _dispute(world, dispute_id: str) -> tuple:
    row = await world["pool"].fetchrow(
        "SELECT stage, status, credit_minor FROM disputes WHERE dispute_id = $1", dispute_id
    )
    return tuple(row)


async def _count(world, query: str, *args) -> int:
    return await world["pool"].fetchval(query, *args)


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json().get("error")


async def test_an_unverified_caller_gets_neither_a_discount_nor_a_credit(world) -> None:
    client, pool = world["client"], world["pool"]
    ann, token = await _person(world, Role.AGENT)
    account, invoice_id = await _invoiced_account(world)
    (dispute,) = await _desk_disputes(world, account, invoice_id, [900])
    task = await _call_task(pool, account, ann.agent_id, verified=False)
    goodwill = {
        "kind": "credit_note",
        "amount_minor": 500,
        "invoice_id": invoice_id,
        "reason_code": "billing_error",
        "criteria": ["double fee"],
    }

    grant = await client.post(f"/tasks/{task}/discounts", json=goodwill, headers=_auth(token, unique("k")))
    credit = await _resolve(world, token, task, dispute, _credit(500))
    for refused in (grant, credit):
        assert _error(refused) == (403, "caller_not_verified"), refused.text
    assert await _count(world, "SELECT count(*) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 0
    assert await _count(world, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    assert (await _dispute(world, dispute))[1] == "open"

    # The caller gives the PIN on this call (through the API); the same requests now go through (500 each,
    # within the agent's 2,500 per grant, 6,000 a month and 5,000 per customer: 1,000 in all).
    call_id = await pool.fetchval("SELECT call_id FROM tasks WHERE task_id = $1", task)
    await set_account_pin(pool, account, CALLER_PIN)
    verified = await client.post(f"/calls/{call_id}/verify", json={"pin": CALLER_PIN}, headers=_auth(token))
    assert verified.json()["verified"] is True
    grant = await client.post(f"/tasks/{task}/discounts", json=goodwill, headers=_auth(token, unique("k")))
    assert (grant.status_code, grant.json()["status"]) == (201, "granted"), grant.text
    credit = await _resolve(world, token, task, dispute, _credit(500))
    assert (credit.status_code, credit.json()["outcome"], credit.json()["credit_minor"]) == (200, "credited", 500)


async def test_dispute_credits_count_against_the_customers_12_month_limit_and_need_approval_above_it(world) -> None:
    client, pool = world["client"], world["pool"]
    (ann, token), (sue, sue_token) = await _person(world, Role.AGENT), await _person(world, Role.SUPERVISOR)
    account, invoice_id = await _invoiced_account(world)
    first, second, third = await _desk_disputes(world, account, invoice_id, [2_500, 2_000, 1_000])
    task = await _call_task(pool, account, ann.agent_id)

    # 2,500 + 2,000 = 4,500: each within 2,500 per grant; her month 4,500 <= 6,000; the customer 4,500 <= 5,000.
    for dispute, amount in ((first, 2_500), (second, 2_000)):
        done = await _resolve(world, token, task, dispute, _credit(amount))
        assert (done.status_code, done.json()["credit_minor"]) == (200, amount), done.text
    # A third credit of 1,000 brings the customer to 5,500 > 5,000 in 12 months (her month to 5,500, not over;
    # the invoice to 5,500 of its 5,950): a second person must approve it. Nothing is credited yet; the dispute
    # stays open, in review.
    third_try = await _resolve(world, token, task, third, _credit(1_000))
    assert third_try.status_code == 202, third_try.text
    pending = third_try.json()
    assert (pending["status"], pending["rule"]) == ("pending_approval", "max_per_customer_12m_minor")
    assert pending["exceeded"] == ["max_per_customer_12m_minor: would reach 5500, limit 5000 (over by 500)"]
    assert await _dispute(world, third) == ("in_review", "open", None)
    assert await _count(world, "SELECT count(*) FROM credit_notes WHERE dispute_id = $1", third) == 0
    meanwhile = await _resolve(world, token, task, third, {"outcome": "rejected", "reason": "changed my mind"})
    assert _error(meanwhile) == (409, "credit_pending_approval")

    await _hold(pool, sue.agent_id, pending["task_id"], "supervisors")
    approved = await client.post(f"/tasks/{pending['task_id']}/approve", headers=_auth(sue_token, unique("k")))
    assert (approved.status_code, approved.json()["status"]) == (200, "granted"), approved.text
    assert await _dispute(world, third) == ("credited", "credited", 1_000)
    notes = await pool.fetch("SELECT dispute_id, amount_minor FROM credit_notes WHERE invoice_id = $1", invoice_id)
    assert sorted(tuple(n) for n in notes) == sorted([(third, 1_000), (first, 2_500), (second, 2_000)])
    charges = await pool.fetch(
        "SELECT charged_to, value_minor FROM discount_budget_charges WHERE account_id = $1", account
    )
    # Both first credits charged to the agent; the approved one to the approver's budget, not hers.
    assert sorted(tuple(c) for c in charges) == sorted(
        [(ann.agent_id, 2_500), (ann.agent_id, 2_000), (sue.agent_id, 1_000)]
    )


async def test_a_spent_monthly_budget_sends_the_next_credit_for_approval(world) -> None:
    pool = world["pool"]
    bob, token = await _person(world, Role.AGENT)
    (one, one_invoice), (two, two_invoice) = await _invoiced_account(world), await _invoiced_account(world)
    first, second = await _desk_disputes(world, one, one_invoice, [2_500, 2_500])
    (other,) = await _desk_disputes(world, two, two_invoice, [1_500])
    one_task, two_task = await _call_task(pool, one, bob.agent_id), await _call_task(pool, two, bob.agent_id)
    for dispute in (first, second):
        assert (await _resolve(world, token, one_task, dispute, _credit(2_500))).status_code == 200
    # Another customer, well within their own limit, but his month would reach 5,000 + 1,500 = 6,500 > 6,000.
    over = await _resolve(world, token, two_task, other, _credit(1_500))
    assert (over.status_code, over.json().get("rule")) == (202, "monthly_budget_minor"), over.text
    assert await _count(world, "SELECT count(*) FROM credit_notes WHERE dispute_id = $1", other) == 0


async def test_whoever_opened_a_dispute_may_not_credit_it_above_the_policy_amount(world) -> None:
    client, pool = world["client"], world["pool"]
    (sam, sam_token), (ann, ann_token) = await _person(world, Role.TIER2), await _person(world, Role.AGENT)
    account, invoice_id = await _invoiced_account(world)
    sam_task = await _call_task(pool, account, sam.agent_id)
    dispute = await _open_on_fee(world, sam_token, sam_task, invoice_id)

    # 1,001 is within Sam's own 10,000 per grant but above the 1,000 an opener may credit.
    own = await _resolve(world, sam_token, sam_task, dispute, _credit(1_001))
    assert _error(own) == (403, "max_credit_by_opener_minor"), own.text
    assert (await _dispute(world, dispute))[1:] == ("open", None)
    ann_task = await _call_task(pool, account, ann.agent_id)
    other = await _resolve(world, ann_token, ann_task, dispute, _credit(2_000))
    assert (other.status_code, other.json()["credit_minor"]) == (200, 2_000), other.text

    # The opener may not approve such a credit either: Sue opens, Ann asks 3,000 (> her 2,500), Sue is refused,
    # another supervisor approves.
    (sue, sue_token), (lea, lea_token) = await _person(world, Role.SUPERVISOR), await _person(world, Role.SUPERVISOR)
    account, invoice_id = await _invoiced_account(world)
    sue_task = await _call_task(pool, account, sue.agent_id)
    dispute = await _open_on_fee(world, sue_token, sue_task, invoice_id)
    ann_task = await _call_task(pool, account, ann.agent_id)
    asked = await _resolve(world, ann_token, ann_task, dispute, _credit(3_000))
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await _reserve(pool, sue.agent_id, approval)
    by_opener = await client.post(f"/tasks/{approval}/approve", headers=_auth(sue_token, unique("k")))
    assert _error(by_opener) == (403, "max_credit_by_opener_minor"), by_opener.text
    handed_back = await client.post(f"/tasks/{approval}/reject", headers=_auth(sue_token))  # for Lea to take
    assert handed_back.status_code == 200, handed_back.text
    await _hold(pool, lea.agent_id, approval, "supervisors")
    by_other = await client.post(f"/tasks/{approval}/approve", headers=_auth(lea_token, unique("k")))
    assert (by_other.status_code, by_other.json()["status"]) == (200, "granted"), by_other.text
    assert await _dispute(world, dispute) == ("credited", "credited", 3_000)


async def _reserve(pool, agent_id: str, task_id: str) -> None:
    """Claim from the supervisors queue until this approval task is offered to ``agent_id`` (not accepted)."""
    now = datetime.now(UTC)
    for _ in range(50):
        claimed = await store.claim_next(pool, agent_id, ["supervisors"], 60, now)
        assert claimed is not None, f"task {task_id} never offered"
        if claimed.task_id == task_id:
            return
    raise AssertionError(f"task {task_id} never offered")


async def _open_on_fee(world, token: str, task_id: str, invoice_id: str) -> str:
    """Open a dispute on the 4,200 fee line through the API and wait for the ledger's row."""
    body = {"invoice_id": invoice_id, "line_id": "fee", "reason": "incorrect_charge"}
    opened = await world["client"].post(f"/tasks/{task_id}/disputes", json=body, headers=_auth(token))
    assert opened.status_code == 201, opened.text
    dispute_id = opened.json()["dispute_id"]
    await eventually(
        lambda: _count(world, "SELECT count(*) FROM disputes WHERE dispute_id = $1", dispute_id), lambda n: n == 1
    )
    return dispute_id


async def test_a_refusal_changes_nothing(world) -> None:
    client, pool = world["client"], world["pool"]
    ann, token = await _person(world, Role.AGENT)
    account, invoice_id = await _invoiced_account(world)
    (dispute,) = await _desk_disputes(world, account, invoice_id, [900])
    task = await _call_task(pool, account, ann.agent_id)
    before = await _dispute(world, dispute)
    review_events = "SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8') LIKE $1"

    # 950 is more than the 900 disputed: refused, and neither the review nor its event nor the key is kept,
    # so the same key runs the request again (and is refused again).
    key = unique("res")
    for _ in range(2):
        refused = await _resolve(world, token, task, dispute, _credit(950), key)
        assert _error(refused) == (422, "disputed_amount"), refused.text
    assert await _dispute(world, dispute) == before
    assert await _count(world, "SELECT count(*) FROM dispute_transitions WHERE dispute_id = $1", dispute) == 0
    assert await _count(world, review_events, f"%dispute.in_review.v1%{dispute}%") == 0
    assert await _count(world, "SELECT count(*) FROM idempotency_keys WHERE agent_id = $1", ann.agent_id) == 0

    # Beyond even a supervisor's 50,000 per grant: refused, and no request, charge or event is written.
    beyond = await client.post(
        f"/tasks/{task}/discounts",
        headers=_auth(token, unique("k")),
        json={"kind": "fixed_next_invoice", "amount_minor": 60_000, "reason_code": "outage", "criteria": ["outage"]},
    )
    assert _error(beyond) == (422, "max_per_grant_minor"), beyond.text
    for table in ("discount_requests", "discount_budget_charges"):
        assert await _count(world, f"SELECT count(*) FROM {table} WHERE account_id = $1", account) == 0, table
    assert await _count(world, review_events, f"%discount.granted.v1%{account}%") == 0


async def test_money_routes_refuse_a_request_without_an_idempotency_key(world) -> None:
    client, pool = world["client"], world["pool"]
    (ann, token), (sue, sue_token) = await _person(world, Role.AGENT), await _person(world, Role.SUPERVISOR)
    account, invoice_id = await _invoiced_account(world)
    (dispute,) = await _desk_disputes(world, account, invoice_id, [900])
    task = await _call_task(pool, account, ann.agent_id)
    fixed = {"kind": "fixed_next_invoice", "amount_minor": 3_000, "reason_code": "outage", "criteria": ["outage"]}
    before = await _dispute(world, dispute)

    keyless = [
        await client.post(f"/tasks/{task}/discounts", json=fixed, headers=_auth(token)),
        await _resolve(world, token, task, dispute, _credit(500), key=None),
    ]
    assert await _count(world, "SELECT count(*) FROM discount_requests WHERE account_id = $1", account) == 0
    assert await _dispute(world, dispute) == before
    # 3,000 > the agent's 2,500 per grant: with a key, an approval task for the two approval routes.
    asked = await client.post(f"/tasks/{task}/discounts", json=fixed, headers=_auth(token, unique("k")))
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await _hold(pool, sue.agent_id, approval, "supervisors")
    keyless += [
        await client.post(f"/tasks/{approval}/approve", headers=_auth(sue_token)),
        await client.post(f"/tasks/{approval}/refuse", params={"reason": "no"}, headers=_auth(sue_token)),
    ]
    for response in keyless:
        assert _error(response) == (400, "idempotency_key_required"), (response.request.url, response.text)
        assert "Idempotency-Key" in response.json()["message"]
    status = await pool.fetchval("SELECT status FROM discount_requests WHERE task_id = $1", approval)
    assert status == "pending"


async def test_no_figure_of_the_account_reaches_an_unverified_callers_agent(world) -> None:
    pool = world["pool"]
    sue, token = await _person(world, Role.SUPERVISOR)
    account, invoice_id = await _invoiced_account(world)
    (dispute,) = await _desk_disputes(world, account, invoice_id, [7_000])
    task = await _call_task(pool, account, sue.agent_id, verified=False)
    # 6,000: within the 7,000 disputed and Sue's 50,000, but more than the 5,950 the invoice comes to.
    refused = await _resolve(world, token, task, dispute, _credit(6_000))
    assert _error(refused) == (403, "caller_not_verified"), refused.text
    for figure in ("5950", "5,950", "59.50", "7000", "7,000", "70.00"):
        assert figure not in refused.text
