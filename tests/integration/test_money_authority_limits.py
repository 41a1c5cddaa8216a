"""Dispute credits decided by the discount authority, through the agent API on the real stack: the customer's
12-month limit and approval above it, a spent monthly budget, and the cap on crediting a dispute one opened.
Policy and invoice: tests/integration/test_money_authority.py."""

from __future__ import annotations

import pytest

from billing.identity.rules.roles import Role
from tests.integration.helpers import unique
from tests.integration.money_api_helpers import (
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
    open_on_fee,
    person,
    reserve,
    resolve_via_api,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(dated_stack):
    async for built in money_world(dated_stack):
        yield built


async def test_dispute_credits_count_against_the_customers_12_month_limit_and_need_approval_above_it(world) -> None:
    client, pool = world["client"], world["pool"]
    (ann, token), (sue, sue_token) = await person(world, Role.AGENT), await person(world, Role.SUPERVISOR)
    account, invoice_id = await invoiced_account(world)
    first, second, third = await desk_disputes(world, account, invoice_id, [2_500, 2_000, 1_000])
    task = await held_call_task(pool, account, ann.agent_id)

    # 2,500 + 2,000 = 4,500: each within 2,500 per grant; her month 4,500 <= 6,000; the customer 4,500 <= 5,000.
    for dispute, amount in ((first, 2_500), (second, 2_000)):
        done = await resolve_via_api(world, token, task, dispute, credited(amount))
        assert (done.status_code, done.json()["credit_minor"]) == (200, amount), done.text
    # A third credit of 1,000 brings the customer to 5,500 > 5,000 in 12 months (her month to 5,500, not over;
    # the invoice to 5,500 of its 5,950): a second person must approve it. Nothing is credited yet; the dispute
    # stays open, in review.
    third_try = await resolve_via_api(world, token, task, third, credited(1_000))
    assert third_try.status_code == 202, third_try.text
    pending = third_try.json()
    assert (pending["status"], pending["rule"]) == ("pending_approval", "max_per_customer_12m_minor")
    assert pending["exceeded"] == ["max_per_customer_12m_minor: would reach 5500, limit 5000 (over by 500)"]
    assert await dispute_row(world, third) == ("in_review", "open", None)
    assert await count_of(world, "SELECT count(*) FROM credit_notes WHERE dispute_id = $1", third) == 0
    meanwhile = await resolve_via_api(world, token, task, third, {"outcome": "rejected", "reason": "changed my mind"})
    assert error_of(meanwhile) == (409, "credit_pending_approval")

    await hold_task(pool, sue.agent_id, pending["task_id"], "supervisors")
    approved = await client.post(f"/tasks/{pending['task_id']}/approve", headers=auth_headers(sue_token, unique("k")))
    assert (approved.status_code, approved.json()["status"]) == (200, "granted"), approved.text
    assert await dispute_row(world, third) == ("credited", "credited", 1_000)
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
    bob, token = await person(world, Role.AGENT)
    (one, one_invoice), (two, two_invoice) = await invoiced_account(world), await invoiced_account(world)
    first, second = await desk_disputes(world, one, one_invoice, [2_500, 2_500])
    (other,) = await desk_disputes(world, two, two_invoice, [1_500])
    one_task, two_task = await held_call_task(pool, one, bob.agent_id), await held_call_task(pool, two, bob.agent_id)
    for dispute in (first, second):
        assert (await resolve_via_api(world, token, one_task, dispute, credited(2_500))).status_code == 200
    # Another customer, well within their own limit, but his month would reach 5,000 + 1,500 = 6,500 > 6,000.
    over = await resolve_via_api(world, token, two_task, other, credited(1_500))
    assert (over.status_code, over.json().get("rule")) == (202, "monthly_budget_minor"), over.text
    assert await count_of(world, "SELECT count(*) FROM credit_notes WHERE dispute_id = $1", other) == 0


async def test_whoever_opened_a_dispute_may_not_credit_it_above_the_policy_amount(world) -> None:
    client, pool = world["client"], world["pool"]
    (sam, sam_token), (ann, ann_token) = await person(world, Role.TIER2), await person(world, Role.AGENT)
    account, invoice_id = await invoiced_account(world)
    sam_task = await held_call_task(pool, account, sam.agent_id)
    dispute = await open_on_fee(world, sam_token, sam_task, invoice_id)

    # 1,001 is within Sam's own 10,000 per grant but above the 1,000 an opener may credit.
    own = await resolve_via_api(world, sam_token, sam_task, dispute, credited(1_001))
    assert error_of(own) == (403, "max_credit_by_opener_minor"), own.text
    assert (await dispute_row(world, dispute))[1:] == ("open", None)
    ann_task = await held_call_task(pool, account, ann.agent_id)
    other = await resolve_via_api(world, ann_token, ann_task, dispute, credited(2_000))
    assert (other.status_code, other.json()["credit_minor"]) == (200, 2_000), other.text

    # The opener may not approve such a credit either: Sue opens, Ann asks 3,000 (> her 2,500), Sue is refused,
    # another supervisor approves.
    (sue, sue_token), (lea, lea_token) = await person(world, Role.SUPERVISOR), await person(world, Role.SUPERVISOR)
    account, invoice_id = await invoiced_account(world)
    sue_task = await held_call_task(pool, account, sue.agent_id)
    dispute = await open_on_fee(world, sue_token, sue_task, invoice_id)
    ann_task = await held_call_task(pool, account, ann.agent_id)
    asked = await resolve_via_api(world, ann_token, ann_task, dispute, credited(3_000))
    assert asked.status_code == 202, asked.text
    approval = asked.json()["task_id"]
    await reserve(pool, sue.agent_id, approval)
    by_opener = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(sue_token, unique("k")))
    assert error_of(by_opener) == (403, "max_credit_by_opener_minor"), by_opener.text
    handed_back = await client.post(f"/tasks/{approval}/reject", headers=auth_headers(sue_token))  # for Lea to take
    assert handed_back.status_code == 200, handed_back.text
    await hold_task(pool, lea.agent_id, approval, "supervisors")
    by_other = await client.post(f"/tasks/{approval}/approve", headers=auth_headers(lea_token, unique("k")))
    assert (by_other.status_code, by_other.json()["status"]) == (200, "granted"), by_other.text
    assert await dispute_row(world, dispute) == ("credited", "credited", 3_000)
