"""Consuming what the dispute and credit-note paths publish (and the same events from other producers).

Our own events were applied to PostgreSQL in the transaction that emitted them, so consuming them changes
nothing; events from another producer are applied here, under the same rules.
"""

from __future__ import annotations

import asyncpg

from billing.contracts import Event
from billing.contracts.credit_notes import CreditNoteIssued, CreditSource
from billing.contracts.discounts import DiscountGranted, DiscountKind
from billing.contracts.disputes import DisputeResolved
from billing.contracts.envelope import payload_as
from billing.credits.credit_notes import NoteRequest, existing_note, invoice_credit, issue_credit_note, lock_invoice
from billing.credits.rules.credit import check_credit
from billing.credits.rules.dispute_lifecycle import DisputeState, can_move
from billing.platform.records import Rejected

_STAGE_OF = {"dispute.routed.v1": DisputeState.ROUTED, "dispute.in_review.v1": DisputeState.IN_REVIEW}


async def on_dispute_step(conn: asyncpg.Connection, event: Event) -> None:
    """routed / in_review: move the dispute there unless it already is there or beyond."""
    p = event.payload
    target = _STAGE_OF[event.type]
    row = await conn.fetchrow("SELECT account_id, stage FROM disputes WHERE dispute_id = $1 FOR UPDATE", p.dispute_id)
    if row is None or row["account_id"] != p.account_id:
        raise Rejected(f"dispute {p.dispute_id} is not known for account {p.account_id}")
    stage = DisputeState(row["stage"])
    if _ORDER.index(stage) >= _ORDER.index(target):
        return  # already applied (our own event) or overtaken by a later step
    if not can_move(stage, target):
        raise Rejected(f"dispute {p.dispute_id} in stage {stage} cannot become {target}")
    await conn.execute("UPDATE disputes SET stage = $2 WHERE dispute_id = $1", p.dispute_id, target.value)
    await conn.execute(
        "INSERT INTO dispute_transitions (dispute_id, stage, agent_id, event_id, at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",
        p.dispute_id,
        target.value,
        getattr(p, "agent_id", None),
        event.event_id,
        event.occurred_at,
    )


_ORDER = list(DisputeState)


async def already_resolved(conn: asyncpg.Connection, event: Event) -> bool:
    """True when the dispute already carries exactly this resolution (written by src/billing/credits/dispute_store.py)."""
    p = payload_as(event, DisputeResolved)
    row = await conn.fetchrow("SELECT status, credit_minor FROM disputes WHERE dispute_id = $1", p.dispute_id)
    credit = p.credit.amount_minor if p.credit else None
    return row is not None and row["status"] == str(p.outcome) and row["credit_minor"] == credit


async def credit_note_for_grant(conn: asyncpg.Connection, event: Event) -> None:
    """A credit_note grant from another producer becomes a credit note here, capped like ours; ours exists."""
    p = payload_as(event, DiscountGranted)
    if p.kind is not DiscountKind.CREDIT_NOTE or await existing_note(conn, p.grant_id) is not None:
        return
    invoice_id = p.invoice_id
    if invoice_id is None:  # the contract requires it of a credit_note grant; refused by name if that ever changes
        raise Rejected(f"credit note grant {p.grant_id}: no invoice_id")
    await lock_invoice(conn, invoice_id)
    invoice = await invoice_credit(conn, invoice_id, p.account_id)
    if invoice is None:
        raise Rejected(f"credit note grant {p.grant_id}: no issued invoice {p.invoice_id} on {p.account_id}")
    refusal = check_credit(invoice, p.amount.amount_minor, p.amount.currency)
    if refusal is not None:
        raise Rejected(f"credit note grant {p.grant_id}: {refusal.reason}")
    note = NoteRequest(
        p.grant_id,
        p.account_id,
        invoice_id,
        p.amount.amount_minor,
        p.amount.currency,
        f"goodwill credit: {p.reason_code}",
        p.granted_by,
        CreditSource.GOODWILL,
    )
    await issue_credit_note(conn, note, event.occurred_at)


async def on_credit_note_issued(conn: asyncpg.Connection, event: Event) -> None:
    """Record a credit note published by another system; ours is already stored (same grant id)."""
    p = payload_as(event, CreditNoteIssued)
    await conn.execute(
        "INSERT INTO credit_notes (credit_note_id, credit_note_number, grant_id, dispute_id, account_id, invoice_id,"
        " amount_minor, currency, reason, issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT DO NOTHING",
        p.credit_note_id,
        p.credit_note_number,
        p.grant_id,
        p.dispute_id,
        p.account_id,
        p.invoice_id,
        p.amount.amount_minor,
        p.amount.currency,
        p.reason,
        p.issued_by,
        p.issued_at,
    )
