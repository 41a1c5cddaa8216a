"""Disputes on the real stack: opened from the topic, resolved with a partial credit, a credit note numbered
gap-free and published, the held amount released, a second credit capped by what remains creditable.

The invoice is a real one from the closer: mobile-l, March 2027, no usage, DE 19 %:
2,999 + round_half_up(569.81) = 3,569.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.care.lifecycle import make_task_id
from billing.contracts.disputes import DisputeOutcome
from billing.credits import dispute_store as store
from billing.credits import resolution
from billing.discounts.rules.grants import AgentProfile
from billing.discounts.rules.policy import Role as AuthorityRole
from billing.entrypoints.stack.loadgen import publish, record_of
from billing.identity.rules.roles import Role
from tests.integration.discounts_helpers import (
    OPENED_AT,
    POLICY,
    close_months,
    dispute_opened,
    in_tx,
    open_account,
    open_disputes,
    upstream_invoice,
)
from tests.integration.helpers import eventually, fetch, fetchval, unique
from tests.integration.money_api_helpers import (
    api_world,
    auth_headers,
    held_call_task,
)

pytestmark = pytest.mark.integration
RESOLVED_AT = datetime(2027, 4, 7, 11, 30, 0, 250_000, tzinfo=UTC)
# Credits go through the authority: tier 2 may give 10,000 at once and 15,000 per customer in 12 months.
ANN = AgentProfile("agent-ann", AuthorityRole.TIER2)
BOB = AgentProfile("agent-bob", AuthorityRole.TIER2)


def _resolve(live, profile: AgentProfile, dispute_id: str, outcome: DisputeOutcome, credit: int | None, note: str):
    return in_tx(
        live, lambda conn: resolution.resolve(conn, POLICY, profile, dispute_id, outcome, credit, note, RESOLVED_AT)
    )


async def test_partial_credit_then_a_credit_beyond_what_remains_is_refused(live) -> None:
    account = await open_account(live)
    assert (await close_months(live, account, [3]))[0][3] == 3569
    dsn = live.require_database_url()
    invoice_id = await fetchval(dsn, "SELECT invoice_id FROM invoices WHERE account_id = $1", account)
    first, second = dispute_opened(account, invoice_id, 1_250), dispute_opened(account, invoice_id, 3_000)
    await open_disputes(live, [first, second])
    held = await fetchval(dsn, "SELECT sum(held_minor) FROM disputes WHERE invoice_id = $1", invoice_id)
    assert held == 1_250 + 3_000

    # 1,000 of the 1,250 disputed is credited (partial); straight from "opened", so review is recorded first.
    resolution = await _resolve(
        live, ANN, first.payload.dispute_id, DisputeOutcome.CREDITED, 1_000, "roaming charged twice"
    )
    assert resolution.credit_note.amount_minor == 1_000
    assert resolution.credit_note.credit_note_number.startswith("CN-2027-")
    # 2027-04-06 09:00 -> 2027-04-07 11:30:00.250 = 26 h 30 min 0.25 s = 95,400,250 ms
    assert resolution.resolve_ms == 95_400_250
    row = await fetch(
        dsn,
        "SELECT stage, status, held_minor, credit_minor FROM disputes WHERE dispute_id = $1",
        first.payload.dispute_id,
    )
    assert tuple(row[0]) == ("credited", "credited", 0, 1_000)
    steps = await fetch(
        dsn,
        "SELECT stage, agent_id, at FROM dispute_transitions WHERE dispute_id = $1 ORDER BY at,"
        " array_position(ARRAY['routed', 'in_review', 'credited'], stage)",
        first.payload.dispute_id,
    )
    # The router queued the dispute as a task when it was opened; resolving records that routing (dated then),
    # then the review, then the credit: every step of the lifecycle is on the topic.
    assert [(s["stage"], s["agent_id"], s["at"]) for s in steps] == [
        ("routed", None, OPENED_AT),
        ("in_review", "agent-ann", RESOLVED_AT),
        ("credited", "agent-ann", RESOLVED_AT),
    ]
    routed = await fetchval(
        dsn,
        "SELECT value FROM outbox WHERE value LIKE $1",
        f'%"dispute.routed.v1"%{first.payload.dispute_id}%'.encode(),
    )
    assert make_task_id("dispute", first.payload.dispute_id).encode() in routed

    # Remaining creditable: 3,569 - 1,000 = 2,569; the second dispute asks 2,600 of its 3,000.
    with pytest.raises(store.DisputeRefused) as refused:
        await _resolve(live, ANN, second.payload.dispute_id, DisputeOutcome.CREDITED, 2_600, "too much")
    assert refused.value.rule == "creditable_remaining"
    rest = await _resolve(live, ANN, second.payload.dispute_id, DisputeOutcome.CREDITED, 2_569, "the rest")
    assert rest.credit_note.amount_minor == 2_569
    numbers = sorted([resolution.credit_note.credit_note_number, rest.credit_note.credit_note_number])

    # Both credits are discount.granted events projected as credit_note grants; the events consumed back
    # change nothing and dead-letter nothing.
    grants = await eventually(
        lambda: fetch(
            dsn, "SELECT kind, amount_minor FROM discount_grants WHERE account_id = $1 ORDER BY amount_minor", account
        ),
        lambda rows: len(rows) == 2,
    )
    assert [tuple(g) for g in grants] == [("credit_note", 1_000), ("credit_note", 2_569)]
    await eventually(
        lambda: fetchval(
            dsn,
            "SELECT count(*) FROM processed_events WHERE event_id = ANY($1::text[])",
            [f"credit-note:dispute:{first.payload.dispute_id}", f"dispute-resolved:{second.payload.dispute_id}"],
        ),
        lambda n: n == 2,
    )
    assert await fetchval(dsn, "SELECT count(*) FROM dead_letters WHERE original_key = $1", account.encode()) == 0
    assert await fetchval(dsn, "SELECT sum(amount_minor) FROM credit_notes WHERE invoice_id = $1", invoice_id) == 3_569
    # Every credit note number of 2027 so far (all tests' included) is 1..N: gap-free, no repeat.
    numbers = [
        r[0]
        for r in await fetch(
            dsn, "SELECT credit_note_number FROM credit_notes WHERE credit_note_number LIKE 'CN-2027-%'"
        )
    ]
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, len(numbers) + 1))


async def test_rejection_releases_the_hold_and_a_resolved_dispute_stays_resolved(live) -> None:
    account = await open_account(live)
    await close_months(live, account, [3])
    dsn = live.require_database_url()
    invoice_id = await fetchval(dsn, "SELECT invoice_id FROM invoices WHERE account_id = $1", account)
    opened = dispute_opened(account, invoice_id, 700)
    await open_disputes(live, [opened])
    dispute_id = opened.payload.dispute_id
    await in_tx(live, lambda conn: store.mark_routed(conn, dispute_id, "tsk-test", "disputes", OPENED_AT))
    reviewed = await in_tx(live, lambda conn: store.start_review(conn, dispute_id, "agent-bob", OPENED_AT))
    assert reviewed.stage == "in_review" and reviewed.held_minor == 700
    with pytest.raises(store.DisputeRefused) as with_credit:
        await _resolve(live, BOB, dispute_id, DisputeOutcome.REJECTED, 100, "no")
    assert with_credit.value.rule == "credit_matches_outcome"
    await _resolve(live, BOB, dispute_id, DisputeOutcome.REJECTED, None, "usage confirmed by network logs")
    with pytest.raises(store.DisputeRefused) as again:
        await _resolve(live, BOB, dispute_id, DisputeOutcome.CREDITED, 100, "changed my mind")
    assert again.value.rule == "dispute_state"
    row = await fetch(dsn, "SELECT stage, held_minor FROM disputes WHERE dispute_id = $1", dispute_id)
    assert tuple(row[0]) == ("rejected", 0)
    stages = await eventually(
        lambda: fetch(dsn, "SELECT stage FROM dispute_transitions WHERE dispute_id = $1", dispute_id),
        lambda rows: len(rows) == 3,
    )
    assert sorted(s[0] for s in stages) == ["in_review", "rejected", "routed"]
    assert await fetchval(dsn, "SELECT count(*) FROM credit_notes WHERE dispute_id = $1", dispute_id) == 0


@pytest.fixture(scope="module")
async def world(dated_stack):
    """On the stack without a closer: an upstream invoice for a fixed period must not race our own close of the
    same period (the session stack's closer would issue it once other tests' usage moves the clock past it)."""
    async for built in api_world(dated_stack.settings):
        yield built


async def test_resolving_through_the_api_with_an_idempotency_key(world) -> None:
    """Upstream invoice of 5,950; 800 of a 900 dispute credited through the API, the retry answers the same."""
    client, pool = world["client"], world["pool"]
    agent, token = world["people"][Role.AGENT]
    now = datetime.now(UTC)
    account = await open_account(world["live"], now - timedelta(days=40))
    invoice_id = unique("inv")
    await publish(world["live"].require_bootstrap(), [record_of(upstream_invoice(account, invoice_id, now))])
    opened, large = dispute_opened(account, invoice_id, 900), dispute_opened(account, invoice_id, 3_000)
    await open_disputes(world["live"], [opened, large])
    task_id = await held_call_task(pool, account, agent.agent_id)
    path = f"/tasks/{task_id}/disputes/{opened.payload.dispute_id}/resolve"
    body = {"outcome": "credited", "credit_minor": 800, "reason": "double roaming charge"}
    first = await client.post(path, json=body, headers=auth_headers(token, "res-1"))
    assert first.status_code == 200, first.text
    assert first.json()["credit_minor"] == 800 and first.json()["credit_note_number"].startswith("CN-")
    again = await client.post(path, json=body, headers=auth_headers(token, "res-1"))
    assert again.json() == first.json()
    changed = await client.post(path, json={**body, "credit_minor": 900}, headers=auth_headers(token, "res-1"))
    assert (changed.status_code, changed.json()["error"]) == (409, "idempotency_key_reused")
    late = await client.post(path, json=body, headers=auth_headers(token, "res-2"))  # a second resolution is refused
    assert (late.status_code, late.json()["error"]) == (409, "dispute_state")
    # A tier-1 agent may credit at most 2,500 at once (the policy's max_per_grant_minor for the role): above it
    # the credit waits for a second person, as a discount does, and nothing is credited yet.
    too_big = await client.post(
        f"/tasks/{task_id}/disputes/{large.payload.dispute_id}/resolve",
        headers=auth_headers(token, "res-3"),
        json={"outcome": "credited", "credit_minor": 2_600, "reason": "roaming"},
    )
    assert too_big.status_code == 202, too_big.text
    assert (too_big.json()["status"], too_big.json()["rule"]) == ("pending_approval", "max_per_grant_minor")
    notes = await fetch(
        world["live"].require_database_url(), "SELECT amount_minor FROM credit_notes WHERE invoice_id = $1", invoice_id
    )
    assert [n[0] for n in notes] == [800]
    # The desk's figures count this resolution (other tests resolve EUR disputes too, so at least these).
    analyst = world["people"][Role.ANALYST][1]
    figures = await client.get(
        "/disputes/summary", params={"currency": "EUR", "since": now.isoformat()}, headers=auth_headers(analyst)
    )
    assert figures.status_code == 200, figures.text
    summary = figures.json()
    assert summary["credited"] >= 1 and summary["credited_minor"] >= 800 and summary["held_minor"] >= 3_000
    assert summary["median_resolve_ms"] is not None and summary["open"] >= 1
    naive = await client.get(
        "/disputes/summary", params={"currency": "EUR", "since": "2026-11-01T00:00:00"}, headers=auth_headers(analyst)
    )
    assert (naive.status_code, naive.json()["error"]) == (422, "invalid_request")
