"""Discounts within authority on the real stack, invoices checked to the minor unit.

Accounts open on 2027-03-01 (far beyond the workers' event-time clock, so only these tests close their cycles)
on mobile-l (2,999 a month, DE tax 19 %, no usage), anchor day 1: every cycle is a calendar month.
Plain invoice: 2,999 + round_half_up(2,999 * 0.19 = 569.81) = 2,999 + 570 = 3,569.

Test policy (EUR cents, no tenure rules so new accounts qualify): agent 2,500 per grant / 50,000 a month /
5,000 per customer, may not approve; tier2 10,000 / 200,000 / 15,000; supervisor 50,000 / 1,000,000 / 60,000.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import asyncpg
import pytest

from ops.loadgen import Population, publish, record_of
from streams.authority.grants import AgentProfile, GrantRequest
from streams.authority.policy import AuthorityPolicy, GrantKind, Role
from streams.authority.policy_defaults import DEFAULT_POLICY_DATA
from streams.billing.catalog import demo_catalog
from streams.discounts.service import DiscountAsk, approve_request, refuse_request, request_discount
from streams.invoicing.closer import close_due_cycles
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration
OPENED = datetime(2027, 3, 1, tzinfo=UTC)
GRANTED_AT = datetime(2027, 3, 10, 12, tzinfo=UTC)
AGENT = AgentProfile("agent-ann", Role.AGENT)
SUPERVISOR = AgentProfile("lead-sue", Role.SUPERVISOR)


def _relaxed_policy() -> AuthorityPolicy:
    data = copy.deepcopy(DEFAULT_POLICY_DATA)
    for rule in data["eligibility"].values():
        rule["min_tenure_days"] = 0
    return AuthorityPolicy.from_dict(data)


POLICY = _relaxed_policy()


async def _open_account(live, opened: datetime = OPENED) -> str:
    population = Population.of(1, start=opened, prefix=unique("disc"))  # account 0 is on mobile-l
    account = population.account_ids[0]
    await publish(live.require_bootstrap(), [record_of(e) for e in population.openings()])
    dsn = live.require_database_url()
    await eventually(lambda: fetchval(dsn, "SELECT count(*) FROM accounts WHERE account_id = $1", account),
                     lambda n: n == 1)  # fmt: skip
    return account


async def _close_months(live, account: str, months: list[int]) -> list[tuple[int, int, int, int]]:
    """Close each month's cycle separately (as of the 5th of the next month) and return the invoices."""
    pool = await asyncpg.create_pool(live.require_database_url(), min_size=1, max_size=2)
    try:
        for month in months:
            as_of = datetime(2027, month + 1, 5, tzinfo=UTC)
            await close_due_cycles(pool, demo_catalog(), live, as_of, accounts=[account])
    finally:
        await pool.close()
    rows = await fetch(live.require_database_url(),
                       "SELECT subtotal_minor, discount_minor, tax_minor, total_minor FROM invoices"
                       " WHERE account_id = $1 ORDER BY period_start", account)  # fmt: skip
    return [tuple(row) for row in rows]


async def _in_tx(live, action):
    conn = await asyncpg.connect(live.require_database_url())
    try:
        async with conn.transaction():
            return await action(conn)
    finally:
        await conn.close()


async def _wait_projected(live, grant_id: str) -> None:
    await eventually(lambda: fetchval(live.require_database_url(),
                                      "SELECT count(*) FROM discount_grants WHERE grant_id = $1", grant_id),
                     lambda n: n == 1)  # fmt: skip


async def test_percent_discount_over_two_cycles(live) -> None:
    account = await _open_account(live)
    request = GrantRequest(unique("pct"), account, GrantKind.PERCENT_NEXT_INVOICES, "EUR", percent_bp=1500,
                           invoice_count=2)  # fmt: skip
    ask = DiscountAsk(request, "bill_shock", ("complained about a high bill",))
    outcome = await _in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    assert outcome.status == "granted", outcome
    await _wait_projected(live, request.request_id)

    invoices = await _close_months(live, account, [3, 4, 5])
    # March and April: discount round_half_up(2,999 * 0.15 = 449.85) = 450; taxable 2,999 - 450 = 2,549;
    # tax round_half_up(2,549 * 0.19 = 484.31) = 484; total 2,549 + 484 = 3,033. May: undiscounted 3,569.
    assert invoices == [(2999, -450, 484, 3033), (2999, -450, 484, 3033), (2999, 0, 570, 3569)]
    applied = await fetch(live.require_database_url(),
                          "SELECT amount_minor FROM grant_applications WHERE grant_id = $1 ORDER BY invoice_id",
                          request.request_id)  # fmt: skip
    assert [r[0] for r in applied] == [450, 450]


async def test_fixed_credit_above_authority_needs_a_distinct_approver_and_carries_forward(live) -> None:
    account = await _open_account(live)
    request = GrantRequest(unique("fix"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=5_000)
    ask = DiscountAsk(request, "outage_goodwill", ("three-day outage",))
    pending = await _in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    # 5,000 is over the agent's 2,500 per grant: an approval task in the supervisors queue, nothing granted.
    assert pending.status == "pending_approval" and pending.rule == "max_per_grant_minor"
    task = await fetch(live.require_database_url(), "SELECT kind, queue, state FROM tasks WHERE task_id = $1",
                       pending.task_id)  # fmt: skip
    assert [tuple(t) for t in task] == [("discount_approval", "supervisors", "queued")]

    own = await _in_tx(live, lambda conn: approve_request(conn, POLICY, request.request_id, AGENT, GRANTED_AT))
    assert (own.status, own.rule) == ("refused", "separation_of_duties")
    peer = AgentProfile("agent-bob", Role.AGENT)
    no_role = await _in_tx(live, lambda conn: refuse_request(conn, POLICY, request.request_id, peer, "no", GRANTED_AT))
    assert (no_role.status, no_role.rule) == ("refused", "can_approve_others")
    approved = await _in_tx(live, lambda conn: approve_request(conn, POLICY, request.request_id, SUPERVISOR,
                                                               GRANTED_AT))  # fmt: skip
    assert approved.status == "granted", approved
    charge = await fetch(live.require_database_url(),
                         "SELECT value_minor, requested_by, approved_by, charged_to FROM discount_budget_charges"
                         " WHERE grant_id = $1", request.request_id)  # fmt: skip
    assert [tuple(c) for c in charge] == [(5000, "agent-ann", "lead-sue", "lead-sue")]
    await _wait_projected(live, request.request_id)

    invoices = await _close_months(live, account, [3, 4, 5])
    # March: 5,000 wanted, capped at the 2,999 subtotal -> total 0, 2,001 carried forward.
    # April: 2,001 off 2,999 -> 998; tax round_half_up(998 * 0.19 = 189.62) = 190; total 1,188.
    # May: nothing left -> 3,569.
    assert invoices == [(2999, -2999, 0, 0), (2999, -2001, 190, 1188), (2999, 0, 570, 3569)]


async def test_a_request_id_is_decided_once_and_refusals_name_their_rule(live) -> None:
    account = await _open_account(live)
    request = GrantRequest(unique("dup"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=1_000)
    ask = DiscountAsk(request, "goodwill", ("long wait",))
    first = await _in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    again = await _in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    assert first.status == again.status == "granted"
    count = await fetchval(live.require_database_url(),
                           "SELECT count(*) FROM outbox WHERE value LIKE $1", f'%discount-granted:{request.request_id}"%'.encode())  # fmt: skip
    assert count == 1
    # A second fixed discount within 60 days is refused by the eligibility rule, whoever asks.
    second = GrantRequest(unique("dup"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=500)
    refused = await _in_tx(live, lambda conn: request_discount(conn, POLICY, SUPERVISOR,
                                                                DiscountAsk(second, "goodwill", ("again",)), GRANTED_AT))
    assert refused.status == "refused" and refused.rule == "no_similar_discount_within_days", refused
