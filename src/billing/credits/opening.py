"""A dispute opened by an agent: its row and its dispute.opened.v1 event commit together (the outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.contracts import DisputeOpened
from billing.contracts.disputes import DisputeReason
from billing.contracts.envelope import DisputeOpenedEvent, dump_event
from billing.contracts.money import Money
from billing.platform.store import enqueue
from billing.platform.topics import DISPUTES
from billing.platform.unit_of_work import Database, unit_of_work

SOURCE = "care/agent-api"


@dataclass(frozen=True)
class DisputeDraft:
    dispute_id: str
    task_id: str
    agent_id: str
    account_id: str
    invoice_id: str
    line_id: str
    amount_minor: int
    currency: str
    reason: DisputeReason
    note: str | None


async def open_dispute(db: Database, draft: DisputeDraft, now: datetime) -> bool:
    """True when this opened the dispute, False when an earlier request already had (nothing is emitted again)."""
    async with unit_of_work(db) as conn:
        inserted = await conn.fetchval(
            "INSERT INTO agent_disputes (dispute_id, task_id, agent_id, account_id, invoice_id, line_id,"
            " amount_minor, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (dispute_id) DO NOTHING RETURNING dispute_id",
            draft.dispute_id,
            draft.task_id,
            draft.agent_id,
            draft.account_id,
            draft.invoice_id,
            draft.line_id,
            draft.amount_minor,
            draft.currency,
        )
        if inserted is None:
            return False
        await enqueue(conn, DISPUTES.name, draft.account_id.encode(), dump_event(dispute_event(draft, now)))
        return True


def dispute_event(draft: DisputeDraft, now: datetime) -> DisputeOpenedEvent:
    payload = DisputeOpened(
        account_id=draft.account_id,
        dispute_id=draft.dispute_id,
        invoice_id=draft.invoice_id,
        line_id=draft.line_id,
        amount=Money(amount_minor=draft.amount_minor, currency=draft.currency),
        reason=draft.reason,
        note=draft.note,
    )
    return DisputeOpenedEvent(
        event_id=f"evt-{draft.dispute_id}",
        type="dispute.opened.v1",
        source=SOURCE,
        occurred_at=now,
        schema_version=1,
        payload=payload,
    )
