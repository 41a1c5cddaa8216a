"""Discounts within authority on the real stack, invoices checked to the minor unit.

Accounts open on 2027-03-01 (far beyond the workers' event-time clock, so only these tests close their cycles)
on mobile-l (2,999 a month, DE tax 19 %, no usage), anchor day 1: every cycle is a calendar month.
Plain invoice: 2,999 + round_half_up(2,999 * 0.19 = 569.81) = 2,999 + 570 = 3,569.

Test policy (EUR cents, no tenure rules so new accounts qualify): agent 2,500 per grant / 50,000 a month /
5,000 per customer, may not approve; tier2 10,000 / 200,000 / 15,000; supervisor 50,000 / 1,000,000 / 60,000.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing.contracts import envelope as ev
from billing.contracts.discounts import DiscountGranted, DiscountKind
from billing.contracts.invoices import InvoiceIssued, InvoiceLine, InvoiceLineKind
from billing.contracts.money import Money
from billing.credits.credit_grants import CREDIT_GRANTS
from billing.discounts.rules.grants import AgentProfile, GrantRequest
from billing.discounts.rules.policy import GrantKind, Role
from billing.discounts.service import DiscountAsk, approve_request, refuse_request, request_discount
from billing.entrypoints.stack.loadgen import Record, publish, record_of
from billing.invoicing.rules.catalog import demo_catalog
from tests.integration.discounts_helpers import (
    AGENT,
    GRANTED_AT,
    POLICY,
    SUPERVISOR,
    close_months,
    in_tx,
    open_account,
    wait_projected,
)
from tests.integration.helpers import eventually, fetch, fetchval, unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(dated_stack):
    """The dated stack runs no closer: on the session stack, usage stamped "now" would let the workers close these
    2027 cycles themselves (from April 2027 on) before the grants under test are recorded."""
    return dated_stack.settings


def _plan_fee(plan_id: str, at: datetime) -> int:
    return demo_catalog().plan_in_force(plan_id, at).recurring_fee_minor


async def test_percent_discount_over_two_cycles(live) -> None:
    account = await open_account(live)
    request = GrantRequest(
        unique("pct"), account, GrantKind.PERCENT_NEXT_INVOICES, "EUR", percent_bp=1500, invoice_count=2
    )
    ask = DiscountAsk(request, "bill_shock", ("complained about a high bill",))
    outcome = await in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT, _plan_fee))
    # Valued before any invoice from the plan's fee: round_half_up(2,999 * 2 * 0.15 = 899.7) = 900, within the
    # agent's 2,500 per grant.
    assert (outcome.status, outcome.value_minor) == ("granted", 900), outcome
    await wait_projected(live, request.request_id)

    invoices = await close_months(live, account, [3, 4, 5])
    # March and April: discount round_half_up(2,999 * 0.15 = 449.85) = 450; taxable 2,999 - 450 = 2,549;
    # tax round_half_up(2,549 * 0.19 = 484.31) = 484; total 2,549 + 484 = 3,033. May: undiscounted 3,569.
    assert invoices == [(2999, -450, 484, 3033), (2999, -450, 484, 3033), (2999, 0, 570, 3569)]
    applied = await fetch(
        live.require_database_url(),
        "SELECT amount_minor FROM grant_applications WHERE grant_id = $1 ORDER BY invoice_id",
        request.request_id,
    )
    assert [r[0] for r in applied] == [450, 450]


async def test_fixed_credit_above_authority_needs_a_distinct_approver_and_carries_forward(live) -> None:
    account = await open_account(live)
    request = GrantRequest(unique("fix"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=5_000)
    ask = DiscountAsk(request, "outage_goodwill", ("three-day outage",))
    pending = await in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    # 5,000 is over the agent's 2,500 per grant: an approval task in the supervisors queue, nothing granted.
    assert pending.status == "pending_approval" and pending.rule == "max_per_grant_minor"
    task = await fetch(
        live.require_database_url(), "SELECT kind, queue, state FROM tasks WHERE task_id = $1", pending.task_id
    )
    assert [tuple(t) for t in task] == [("discount_approval", "supervisors", "queued")]

    own = await in_tx(live, lambda conn: approve_request(conn, POLICY, request.request_id, AGENT, GRANTED_AT))
    assert (own.status, own.rule) == ("refused", "separation_of_duties")
    peer = AgentProfile("agent-bob", Role.AGENT)
    no_role = await in_tx(live, lambda conn: refuse_request(conn, POLICY, request.request_id, peer, "no", GRANTED_AT))
    assert (no_role.status, no_role.rule) == ("refused", "can_approve_others")
    approved = await in_tx(live, lambda conn: approve_request(conn, POLICY, request.request_id, SUPERVISOR, GRANTED_AT))
    assert approved.status == "granted", approved
    charge = await fetch(
        live.require_database_url(),
        "SELECT value_minor, requested_by, approved_by, charged_to FROM discount_budget_charges WHERE grant_id = $1",
        request.request_id,
    )
    assert [tuple(c) for c in charge] == [(5000, "agent-ann", "lead-sue", "lead-sue")]
    await wait_projected(live, request.request_id)

    invoices = await close_months(live, account, [3, 4, 5])
    # March: 5,000 wanted, capped at the 2,999 subtotal -> total 0, 2,001 carried forward.
    # April: 2,001 off 2,999 -> 998; tax round_half_up(998 * 0.19 = 189.62) = 190; total 1,188.
    # May: nothing left -> 3,569.
    assert invoices == [(2999, -2999, 0, 0), (2999, -2001, 190, 1188), (2999, 0, 570, 3569)]


async def test_a_request_id_is_decided_once_and_refusals_name_their_rule(live) -> None:
    account = await open_account(live)
    request = GrantRequest(unique("dup"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=1_000)
    ask = DiscountAsk(request, "goodwill", ("long wait",))
    first = await in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    again = await in_tx(live, lambda conn: request_discount(conn, POLICY, AGENT, ask, GRANTED_AT))
    assert first.status == again.status == "granted"
    count = await fetchval(
        live.require_database_url(),
        "SELECT count(*) FROM outbox WHERE value LIKE $1",
        f'%discount-granted:{request.request_id}"%'.encode(),
    )
    assert count == 1
    # A second fixed discount within 60 days is refused by the eligibility rule, whoever asks.
    second = GrantRequest(unique("dup"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=500)
    refused = await in_tx(
        live,
        lambda conn: request_discount(
            conn, POLICY, SUPERVISOR, DiscountAsk(second, "goodwill", ("again",)), GRANTED_AT
        ),
    )
    assert refused.status == "refused" and refused.rule == "no_similar_discount_within_days", refused


async def test_replaying_every_event_changes_nothing(live) -> None:
    """Grant, credit note and invoices, then every event of the account published again: same rows, no letters."""
    account = await open_account(live)
    fixed = GrantRequest(unique("rep"), account, GrantKind.FIXED_NEXT_INVOICE, "EUR", amount_minor=1_500)
    assert (
        await in_tx(
            live,
            lambda conn: request_discount(
                conn, POLICY, AGENT, DiscountAsk(fixed, "goodwill", ("late fix",)), GRANTED_AT
            ),
        )
    ).status == "granted"
    await wait_projected(live, fixed.request_id)
    await close_months(live, account, [3])
    dsn = live.require_database_url()
    invoice_id = await fetchval(dsn, "SELECT invoice_id FROM invoices WHERE account_id = $1", account)
    credit = GrantRequest(unique("rep"), account, GrantKind.CREDIT_NOTE, "EUR", amount_minor=700)
    granted = await in_tx(
        live,
        lambda conn: request_discount(
            conn,
            POLICY,
            AGENT,
            DiscountAsk(credit, "billing_error", ("wrong tariff",), invoice_id),
            GRANTED_AT,
            credits=CREDIT_GRANTS,
        ),
    )
    assert granted.status == "granted" and granted.credit_note_number.startswith("CN-2027-")
    await wait_projected(live, credit.request_id)

    tables = {
        "discount_grants": "SELECT grant_id, kind, amount_minor FROM discount_grants WHERE account_id = $1",
        "credit_notes": "SELECT credit_note_number, amount_minor FROM credit_notes WHERE account_id = $1",
        "invoices": "SELECT invoice_id, total_minor FROM invoices WHERE account_id = $1",
        "applications": "SELECT a.grant_id, a.amount_minor FROM grant_applications a JOIN invoices i"
        " USING (invoice_id) WHERE i.account_id = $1",
    }
    before = {name: sorted(map(tuple, await fetch(dsn, sql, account))) for name, sql in tables.items()}
    # March: 2,999 - 1,500 = 1,499; tax round_half_up(284.81) = 285; total 1,784. Credit note 700 on it.
    assert before["invoices"] == [(invoice_id, 1_784)] and before["credit_notes"][0][1] == 700
    rows = await fetch(dsn, "SELECT topic, key, value FROM outbox WHERE key = $1 ORDER BY id", account.encode())
    assert len(rows) >= 4  # discount.granted x2, credit_note.issued, invoice.issued
    # Sentinels behind the replay on the same partitions (same key): once they are applied, so is the replay.
    sentinel_grant, sentinel_invoice = _sentinels(account)
    await publish(
        live.require_bootstrap(), [*(_record(r) for r in rows), record_of(sentinel_grant), record_of(sentinel_invoice)]
    )
    await wait_projected(live, sentinel_grant.payload.grant_id)
    await eventually(
        lambda: fetchval(
            dsn, "SELECT count(*) FROM invoices_issued WHERE invoice_id = $1", sentinel_invoice.payload.invoice_id
        ),
        lambda n: n == 1,
    )
    await close_months(live, account, [3])  # closing again finds nothing due
    after = {name: sorted(map(tuple, await fetch(dsn, sql, account))) for name, sql in tables.items()}
    after["discount_grants"] = [g for g in after["discount_grants"] if g[0] != sentinel_grant.payload.grant_id]
    assert after == before
    assert await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()) == 0


def _record(row) -> Record:
    return Record(row["topic"], row["key"], row["value"])


def _sentinels(account: str) -> tuple[ev.DiscountGrantedEvent, ev.InvoiceIssuedEvent]:
    at = datetime(2027, 5, 1, tzinfo=UTC)
    meta = {"source": "test/sentinel", "occurred_at": at, "schema_version": 1}
    grant = ev.DiscountGrantedEvent(
        event_id=unique("snt"),
        type="discount.granted.v1",
        **meta,
        payload=DiscountGranted(
            account_id=account,
            grant_id=unique("snt"),
            kind=DiscountKind.FIXED_NEXT_INVOICE,
            amount=Money(amount_minor=1, currency="EUR"),
            reason_code="sentinel",
            criteria=("sentinel",),
            granted_by="test",
        ),
    )
    line = InvoiceLine(line_id="fee", kind=InvoiceLineKind.RECURRING, description="fee", amount_minor=100)
    invoice = ev.InvoiceIssuedEvent(
        event_id=unique("snt"),
        type="invoice.issued.v1",
        **meta,
        payload=InvoiceIssued(
            account_id=account,
            invoice_id=unique("snt"),
            invoice_number=unique("UP"),
            period_start=date(2027, 4, 1),
            period_end=date(2027, 5, 1),
            issued_at=at,
            due_date=date(2027, 5, 15),
            currency="EUR",
            lines=(line,),
            subtotal_minor=100,
            discount_minor=0,
            tax_minor=0,
            total_minor=100,
        ),
    )
    return grant, invoice


async def test_an_approved_credit_note_is_checked_again_against_what_remains(live) -> None:
    account = await open_account(live)
    await close_months(live, account, [3])  # March: 3,569
    dsn = live.require_database_url()
    invoice_id = await fetchval(dsn, "SELECT invoice_id FROM invoices WHERE account_id = $1", account)
    big = GrantRequest(unique("cn"), account, GrantKind.CREDIT_NOTE, "EUR", amount_minor=3_000)
    pending = await in_tx(
        live,
        lambda conn: request_discount(
            conn,
            POLICY,
            AGENT,
            DiscountAsk(big, "billing_error", ("double fee",), invoice_id),
            GRANTED_AT,
            credits=CREDIT_GRANTS,
        ),
    )
    assert pending.status == "pending_approval"  # 3,000 > the agent's 2,500
    small = GrantRequest(unique("cn"), account, GrantKind.CREDIT_NOTE, "EUR", amount_minor=1_000)
    done = await in_tx(
        live,
        lambda conn: request_discount(
            conn,
            POLICY,
            SUPERVISOR,
            DiscountAsk(small, "billing_error", ("wrong tax",), invoice_id),
            GRANTED_AT,
            credits=CREDIT_GRANTS,
        ),
    )
    assert done.status == "granted"
    # Meanwhile only 3,569 - 1,000 = 2,569 remain creditable: the approval is refused, naming the rule.
    late = await in_tx(
        live,
        lambda conn: approve_request(conn, POLICY, big.request_id, SUPERVISOR, GRANTED_AT, credits=CREDIT_GRANTS),
    )
    assert (late.status, late.rule) == ("refused", "creditable_remaining")
    # A refusal changes nothing: the request still waits, for the approver to turn it down with a reason.
    status = await fetchval(dsn, "SELECT status FROM discount_requests WHERE request_id = $1", big.request_id)
    assert status == "pending"
    turned_down = await in_tx(
        live,
        lambda conn: refuse_request(conn, POLICY, big.request_id, SUPERVISOR, "only 2,569 left to credit", GRANTED_AT),
    )
    assert (turned_down.status, turned_down.rule) == ("refused", "refused_by_approver")
    status = await fetchval(dsn, "SELECT status FROM discount_requests WHERE request_id = $1", big.request_id)
    assert status == "refused"
    assert await fetchval(dsn, "SELECT sum(amount_minor) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 1_000
